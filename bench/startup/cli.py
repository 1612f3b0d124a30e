"""How fast the ``kiln`` command answers: ``kiln --help``, ``kiln version`` and ``kiln job list --limit 1000``
against a workspace with 1,000 jobs, as medians of alternated runs, beside Python's own start
(``python -c pass``) and ``python -c "import typer"``, with issue 13's goals as PASS/FAIL lines.

    .venv/bin/python bench/startup/cli.py [--runs 15] [--jobs 1000] [--no-job-list] [--compare-src OTHER/src]

``kiln`` is run as its console script runs it (``from kiln.cli.main import main``), from this checkout's
``src``; with ``--compare-src``, the same commands from another checkout's ``src`` too (an earlier kiln),
alternated with these, against the same server. Python's bytecode cache is on, as in an installed kiln (pip compiles it at install; a first,
unmeasured run writes it here). Wall-clock times are what a user waits; CPU times (user + system of
the child) are steadier on a busy machine. For ``job list``, the server's share is timed on its own too:
the same REST call (``GET /api/v1/jobs?limit=1000``) from this process. The 1,000 jobs are one real
completed job's row, copied with new ids straight into the workspace's database (submitting 1,000 real
jobs would take minutes and measure nothing more). ``kiln job list`` is answered by the CLI's fast front
(``kiln.cli.quick``: no typer), its table drawn from plain rows (no pydantic); ``-o json`` writes the views pydantic
validated. Run it inside a loopback-only namespace:
``unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/startup/cli.py'``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO / "src"))

from workspace_server import BenchWorkspace  # noqa: E402

KILN = "import sys; from kiln.cli.main import main; sys.argv[0] = 'kiln'; main()"  # the console script's body
GOALS = {"kiln --help": 0.2, "kiln version": 0.2, "kiln job list --limit 1000": 0.3}  # seconds, issue 13


def environment(extra: dict[str, str] | None = None, src: Path = REPO / "src") -> dict[str, str]:
    """The command's environment: ``extra`` (a workspace's variables) over this one, ``src`` first on the path
    (after ``extra``: a workspace's variables copy this process's PYTHONPATH, which must not name another kiln)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | (extra or {})
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as installed
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run; its output is checked, then dropped."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(commands: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, tuple[float, float]]:
    """Each command ``runs`` times, alternated (one of each, then again), after one unmeasured run each."""
    for argv, env in commands.values():
        timed(argv, env)  # warm-up: the bytecode cache, the page cache
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            wall, cpu = timed(argv, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in commands}


def insert_jobs(workspace: BenchWorkspace, count: int) -> None:
    """``count`` completed jobs: one submitted for real, its row copied with new ids and times."""
    from sqlalchemy import select

    from kiln import Client
    from kiln.config import Settings
    from kiln.store.database import create_database_engine, session_factory
    from kiln.store.tables import JobRow

    with Client(url=workspace.url, token=workspace.token) as client:
        job = client.jobs.create({"command": 'python -c "print(1)"', "experiment_name": "bench-cli"})
        job.wait(timeout=120, poll=0.1)
    engine = create_database_engine(Settings.load(home=workspace.home).resolved_database_url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        model = session.scalars(select(JobRow).where(JobRow.id == job.id)).one()
        columns = [c.key for c in JobRow.__table__.columns]
        template = {key: getattr(model, key) for key in columns}
        for i in range(count - 1):
            run_id = uuid.uuid4().hex  # as MLflow's run ids: the table shortens them
            created = template["created_at"] - timedelta(seconds=i + 1)
            session.add(JobRow(**template | {"id": run_id, "name": run_id, "created_at": created}))
    engine.dispose()


def server_list_time(workspace: BenchWorkspace, runs: int) -> float:
    import httpx

    headers = {"Authorization": f"Bearer {workspace.token}"}
    with httpx.Client(base_url=workspace.url, headers=headers, timeout=60) as http:
        samples = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            answer = http.get("/api/v1/jobs", params={"limit": 1000})
            samples.append(time.perf_counter() - start)
            answer.raise_for_status()
        assert len(answer.json()) >= 1000, len(answer.json())
    return statistics.median(samples[1:])


def report(results: dict[str, tuple[float, float]]) -> None:
    print(f"{'command':<44} {'wall (median)':>14} {'CPU (median)':>13}")
    for name, (wall, cpu) in results.items():
        print(f"{name:<44} {wall * 1000:>11.0f} ms {cpu * 1000:>10.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (alternated); medians shown")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in the workspace for `kiln job list`")
    parser.add_argument("--no-job-list", action="store_true", help="only --help and version (no server)")
    parser.add_argument("--compare-src", type=Path, help="another checkout's src: its kiln timed alongside")
    args = parser.parse_args()
    sources = {"": REPO / "src"} | ({f" [{args.compare_src}]": args.compare_src.resolve()} if args.compare_src else {})

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="kiln-bench-cli-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        local = environment({"KILN_HOME": str(home)})  # no server needed: nothing here reaches a workspace
        commands = {
            "python -c pass (baseline)": ([python, "-c", "pass"], local),
            'python -c "import typer" (baseline)': ([python, "-c", "import typer"], local),
        }
        for label, src in sources.items():
            env = environment({"KILN_HOME": str(home)}, src)
            commands[f"kiln --help{label}"] = ([python, "-c", KILN, "--help"], env)
            commands[f"kiln version{label}"] = ([python, "-c", KILN, "version"], env)
        results = medians(commands, args.runs)
        server = None
        if not args.no_job_list:
            with BenchWorkspace(home) as workspace:
                insert_jobs(workspace, args.jobs)
                listing = [python, "-c", KILN, "job", "list", "--limit", str(args.jobs)]
                jsons = [*listing, "-o", "json"]
                lists: dict[str, tuple[list[str], dict[str, str]]] = {}
                for label, src in sources.items():
                    env = environment(workspace.env, src)
                    lists[f"kiln job list --limit {args.jobs}{label}"] = (listing, env)
                    lists[f"kiln job list --limit {args.jobs} -o json{label}"] = (jsons, env)
                results |= medians(lists, args.runs)
                server = server_list_time(workspace, args.runs)
    report(results)
    if server is not None:
        print(f"{'  of which the server answers GET /api/v1/jobs':<44} {server * 1000:>11.0f} ms  (from this process)")
    print()
    for name, goal in GOALS.items():
        if args.jobs != 1000 and "job list" in name:
            name = name.replace("1000", str(args.jobs))
        if name not in results:
            continue
        wall = results[name][0]
        print(f"{'PASS' if wall <= goal else 'FAIL'}: {name} {wall * 1000:.0f} ms (goal <= {goal * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
