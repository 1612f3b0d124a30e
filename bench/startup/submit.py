"""``kiln job create`` (the CLI) → first line of user code, against the same script run directly, side by side.

With a warm server (its own KILN_HOME, on loopback): from launching the CLI to the job's first line
(``bench/job_overhead/src/probe.py`` prints ``time.time()`` there), with no environment named (the job
runs on the server's packages). Baselines in the same run, alternated with kiln's runs: ``python -c pass``
(an interpreter's start and exit; and the same as a job's process starts, with kiln's job site, its
``sitecustomize``, which should cost nothing) and ``python probe.py`` (launch → its first line: the floor no runner
beats). To tell the CLI's part from the server's, the same submission through the SDK in this (warm) process
→ first line. With ``--compare-src OTHER/src``, the CLI of another checkout (an earlier kiln) too, alternated with
this one's, against the same server. Goal (issue 13): ≤ 0.3 s (median) for the CLI.

``kiln job create -f job.yml -o json`` is answered by the CLI's fast front (``kiln.cli.quick``: no typer), and the
job file, a simple one, is sent as written (``kiln.sdk.simple_submit``: no spec models built on the client, the
server's answer printed as it came); the server creates and starts the job's MLflow run through MLflow's store
in-process (``kiln.tracking.run_store``). To compare servers too, run this script from two checkouts one after the
other, alternated (each starts its own checkout's server).

    python bench/startup/submit.py [--runs 10] [--compare-src OTHER/src]

Run it inside a loopback-only namespace: ``unshare -n sh -c 'ip link set lo up && python bench/startup/submit.py'``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
sys.path.insert(0, str(HERE.parent))
if str(SRC) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):  # the CLI and server of this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
sys.path.insert(0, str(SRC))

from job_overhead.run import HERE as JOB_FOLDER  # noqa: E402
from job_overhead.run import direct_run, kiln_run, marks, summary  # noqa: E402
from workspace_server import BenchWorkspace  # noqa: E402

GOAL_SECONDS = 0.3


JOB_SITE = SRC / "kiln" / "jobs" / "job_site"  # the sitecustomize every Python process of a job starts with


def python_pass(job_site: bool = False) -> float:
    """``python -c pass``; with ``job_site``, as a job's process starts it (kiln's sitecustomize, a job id set)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if job_site:
        env |= {"PYTHONPATH": str(JOB_SITE), "KILN_JOB_ID": "0" * 32}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
    return time.perf_counter() - start


def sdk_run(client) -> float:  # type: ignore[no-untyped-def]
    """Seconds from the SDK's submission (a warm process: no interpreter or import) to the job's first line."""
    start = time.time()
    job = client.jobs.create(JOB_FOLDER / "job.yml").wait(timeout=120, poll=0.05)
    assert job.status.value == "completed", job.view.failure_reason
    return marks("".join(client.jobs.logs(job.name)))["first"] - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--compare-src", type=Path, help="another checkout's src: its CLI timed alongside")
    args = parser.parse_args()
    from kiln import Client

    figures: dict[str, list[float]] = {
        "python -c pass": [], "job site": [], "python probe.py → first line": [], "kiln": [], "sdk": [],
    }  # fmt: skip
    if args.compare_src:
        figures["other"] = []
    with tempfile.TemporaryDirectory(prefix="kiln-bench-submit-") as tmp, BenchWorkspace(Path(tmp)) as workspace:
        client = Client(url=workspace.url, token=workspace.token)
        other_env = workspace.env | {"PYTHONPATH": str(args.compare_src.resolve())} if args.compare_src else {}
        kiln_run(workspace.env, client)  # warm-up: experiment created, code uploaded once
        if other_env:
            kiln_run(other_env, client)
        for _ in range(args.runs):  # alternated: a busy moment of the machine weighs on both
            figures["python -c pass"].append(python_pass())
            figures["job site"].append(python_pass(job_site=True))
            figures["python probe.py → first line"].append(direct_run())
            figures["kiln"].append(kiln_run(workspace.env, client)[0])
            if other_env:
                figures["other"].append(kiln_run(other_env, client)[0])
            figures["sdk"].append(sdk_run(client))
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(f"submit → first line of user code, {args.runs} runs each, warm server, loopback, no environment named")
    print(f"  baseline: python -c pass                         {summary(figures['python -c pass'])}")
    print(f"  python -c pass as a job's process starts (job site) {summary(figures['job site'])}")
    print(f"  baseline: python probe.py → first line           {summary(figures['python probe.py → first line'])}")
    print(f"  kiln job create (CLI) → first line of user code  {summary(figures['kiln'])}")
    if args.compare_src:
        print(f"  the same CLI from {args.compare_src}")
        print(f"    kiln job create (CLI) → first line of user code  {summary(figures['other'])}")
    print(f"  SDK jobs.create (warm process) → first line      {summary(figures['sdk'])}")
    over = median["kiln"] - median["python probe.py → first line"]
    print(f"  kiln's overhead over the direct run              {over * 1000:7.0f} ms")
    verdict = "PASS" if median["kiln"] <= GOAL_SECONDS else "FAIL"
    print(f"{verdict}: kiln job create → first line ≤ {GOAL_SECONDS} s (median {median['kiln']:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
