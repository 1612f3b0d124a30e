"""An online endpoint through its scoring URI (key auth, traffic routing, the gateway's hop) vs
``mlflow models serve`` on the same iris model, and the replica called directly, on loopback,
printed side by side with issue 13's goals as PASS/FAIL lines.

- kiln: a workspace server in a temporary KILN_HOME; endpoint ``bench`` with deployments ``blue``
  (100 %) and ``green`` (0 %), ``--instances`` replicas each; requests go to
  ``/endpoints/bench/invocations`` with ``Authorization: Bearer <key>``; the replica is also
  called directly (its port and secret read from its config file) to show the gateway's cost.
- baselines: ``mlflow models serve -m MODEL --env-manager local -w 1``, and a do-nothing FastAPI
  app (one uvicorn worker) as the HTTP floor.
Each is driven by wrk when installed (else a Python generator) with 1-row and 64-row
``dataframe_split`` bodies at concurrency 16 (1-row at 1 too). CPU per request comes from
/proc (user + system time of the server's processes over the run / requests answered): the
machine may be shared, CPU per request is the steadier figure. Last, traffic moves blue→green
in steps while wrk keeps going (2 + 2 replicas by default): req/s, and failed requests, which
must be 0.

    .venv/bin/python bench/serving/endpoint_vs_mlflow.py [--seconds 5] [--instances 2] [--no-shift]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from replica_vs_mlflow import COLUMNS, FLOOR_APP, Result, run_python, run_wrk, save_model, start, stop  # noqa: E402
from workspace_server import BenchWorkspace  # noqa: E402

from kiln.processes import free_port  # noqa: E402

PROBES = {"initial_delay": 0, "period": 1, "failure_threshold": 120}
ROW = [5.1, 3.5, 1.4, 0.2]
ONE_ROW = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [ROW]}})
ROWS_64 = json.dumps(
    {"dataframe_split": {"columns": COLUMNS, "data": [[v + i % 7 * 0.1 for v in ROW] for i in range(64)]}}
)
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    result: Result
    cpu_ms: float  # CPU of the measured server's processes per request answered


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def group_pids(leader: int) -> list[int]:
    """The processes of the session ``leader`` started (mlflow serve runs uvicorn as a child)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == leader:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def replica_pids(config_files: list[Path]) -> list[int]:
    wanted = {str(path) for path in config_files}
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(arg.decode(errors="replace") in wanted for arg in argv):
                found.append(int(entry.name))
    return found


def measure(
    url: str, headers: dict[str, str], body: str, concurrency: int, seconds: float, folder: Path, pids: list[int]
) -> Run:
    """wrk when installed (a Python generator saturates a core long before the servers do), else Python."""
    before = cpu_seconds(pids)
    if shutil.which("wrk"):
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        result = run_wrk(url, body, concurrency, seconds, folder, extra)
    else:
        result = run_python(url, body, concurrency, seconds, headers)
    requests = max(1.0, result.rps * max(1, round(seconds)))
    return Run(result, (cpu_seconds(pids) - before) * 1000 / requests)


def row(name: str, concurrency: int, rows: int, run: Run) -> None:
    r = run.result
    print(
        f"{name:<34} {rows:>2} row{'s' if rows > 1 else ' '} c={concurrency:<3} {r.rps:8.0f} req/s  "
        f"p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:7.2f} ms  CPU {run.cpu_ms:5.2f} ms/req  errors {r.errors}"
    )


def verdict(label: str, value: float, goal: float, unit: str = "x", higher: bool = True) -> bool:
    passed = value >= goal if higher else value <= goal
    sign = ">=" if higher else "<="
    print(f"{'PASS' if passed else 'FAIL'}  {label}: {value:.2f}{unit} (goal {sign} {goal:g}{unit})")
    return passed


def baseline(
    command: list[str], ready: str, log: Path, url: str, folder: Path, seconds: float, cwd: Path | None = None
) -> dict[tuple[int, int], Run]:
    process = start(command, ready, log, cwd=cwd)
    try:
        pids = group_pids(process.pid)
        plain = {"Content-Type": "application/json"}
        measure(url, plain, ONE_ROW, 16, 1, folder, pids)  # warm-up
        return {
            (rows, c): measure(url, plain, body, c, seconds, folder, pids)
            for rows, body, c in ((1, ONE_ROW, 16), (64, ROWS_64, 16), (1, ONE_ROW, 1))
        }
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (wrk rounds to whole seconds)")
    parser.add_argument("--instances", type=int, default=2, help="replicas per deployment (blue and green)")
    parser.add_argument("--no-shift", action="store_true", help="skip the blue→green shift under load")
    args = parser.parse_args()

    from kiln import Client

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="kiln-bench-endpoint-") as scratch:
        folder = Path(scratch)
        model = save_model(folder)
        home = folder / "home"
        home.mkdir()
        print(
            f"{os.cpu_count()} cores; {args.seconds:g} s per run; generator: {'wrk' if shutil.which('wrk') else 'python'}"
        )
        with BenchWorkspace(home) as workspace, Client(url=workspace.url, token=workspace.token) as client:
            client.models.create(name="iris-bench", path=str(model))
            client.online_endpoints.create({"name": "bench"})
            for name in ("blue", "green"):
                client.online_deployments.create(
                    {"name": name, "endpoint_name": "bench", "model": "kiln:iris-bench:1",
                     "instance_count": args.instances, "readiness_probe": PROBES},
                    all_traffic=name == "blue",
                )  # fmt: skip
            key = client.online_endpoints.get_keys("bench").primary_key
            scoring = f"{workspace.url}/endpoints/bench/invocations"
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            server_pid = workspace.pid
            blue_configs = sorted(home.glob("**/bench/blue/replica-*.json"))
            replicas = replica_pids(blue_configs)
            kiln_pids = [server_pid, *replicas]
            run_python(scoring, ONE_ROW, 16, 1.0, headers)  # warm the pools
            endpoint: dict[tuple[int, int], Run] = {}
            gateway_cpu: dict[tuple[int, int], float] = {}
            for rows, body, c in ((1, ONE_ROW, 16), (64, ROWS_64, 16), (1, ONE_ROW, 1)):
                before = cpu_seconds([server_pid])
                endpoint[(rows, c)] = run = measure(scoring, headers, body, c, args.seconds, folder, kiln_pids)
                answered = max(1.0, run.result.rps * max(1, round(args.seconds)))
                gateway_cpu[(rows, c)] = (cpu_seconds([server_pid]) - before) * 1000 / answered
            direct = direct_replica(blue_configs, folder, args.seconds, replicas)

            mlflow_port = free_port()
            mlflow = baseline(
                [python, "-m", "mlflow", "models", "serve", "-m", str(model), "--env-manager", "local",
                 "-w", "1", "-h", "127.0.0.1", "-p", str(mlflow_port)],
                f"http://127.0.0.1:{mlflow_port}/ping", folder / "mlflow.log",
                f"http://127.0.0.1:{mlflow_port}/invocations", folder, args.seconds,
            )  # fmt: skip
            (folder / "floor_app.py").write_text(FLOOR_APP)
            floor_port = free_port()
            floor = baseline(
                [python, "-m", "uvicorn", "floor_app:app", "--port", str(floor_port), "--workers", "1",
                 "--no-access-log"],
                f"http://127.0.0.1:{floor_port}/ping", folder / "floor.log",
                f"http://127.0.0.1:{floor_port}/invocations", folder, args.seconds, cwd=folder,
            )  # fmt: skip

            print()
            for rows, c in ((1, 16), (64, 16), (1, 1)):
                row(f"kiln scoring URI ({args.instances} replicas)", c, rows, endpoint[(rows, c)])
                print(
                    f"{'  of which the gateway (server process)':<34}                CPU {gateway_cpu[(rows, c)]:5.2f} ms/req"
                )
                if (rows, c) in direct:
                    row("kiln replica called directly", c, rows, direct[(rows, c)])
                row("mlflow models serve -w 1", c, rows, mlflow[(rows, c)])
                row("FastAPI do-nothing app (floor)", c, rows, floor[(rows, c)])
            print()
            one, many = endpoint[(1, 16)].result, endpoint[(64, 16)].result
            verdict("1 row, c=16: scoring URI / mlflow req/s", one.rps / mlflow[(1, 16)].result.rps, 10)
            verdict("1 row, c=16: scoring URI p99", one.p99_ms, 10, " ms", higher=False)
            verdict(
                "1 row, c=16: scoring URI / bare FastAPI app req/s", 100 * one.rps / floor[(1, 16)].result.rps, 30, " %"
            )
            verdict("64 rows, c=16: scoring URI / mlflow req/s", many.rps / mlflow[(64, 16)].result.rps, 5)
            if (1, 16) in direct:
                print(
                    f"info  1 row, c=16: replica directly / mlflow req/s: {direct[(1, 16)].result.rps / mlflow[(1, 16)].result.rps:.2f}x"
                )

            if not args.no_shift:
                shift(client, scoring, headers, folder, args, mlflow[(1, 16)].result.rps)
            client.online_endpoints.delete("bench")


def direct_replica(configs: list[Path], folder: Path, seconds: float, pids: list[int]) -> dict[tuple[int, int], Run]:
    """One blue replica without the gateway: its port and secret from its config file (this bench owns the home)."""
    if not configs:
        return {}
    config = json.loads(configs[0].read_text())
    url = f"http://127.0.0.1:{config['port']}/invocations"
    headers = {"x-kiln-internal-secret": config["secret"], "Content-Type": "application/json"}
    return {(1, 16): measure(url, headers, ONE_ROW, 16, seconds, folder, pids)}


def shift(
    client: object, scoring: str, headers: dict[str, str], folder: Path, args: argparse.Namespace, mlflow_rps: float
) -> None:
    """Traffic blue→green in steps while wrk (or Python) keeps 16 callers going; zero failed requests."""
    update: Callable[..., object] = client.online_endpoints.update  # type: ignore[attr-defined]
    seconds = max(6.0, args.seconds)
    shifted: list[Run] = []
    load = threading.Thread(target=lambda: shifted.append(measure(scoring, headers, ONE_ROW, 16, seconds, folder, [])))
    load.start()
    for blue, green in ((75, 25), (50, 50), (25, 75), (0, 100)):
        time.sleep(seconds / 5)
        update("bench", traffic={"blue": blue, "green": green})
    load.join()
    result = shifted[0].result
    print(f"\nblue→green shift under load ({args.instances} + {args.instances} replicas): {result.rps:.0f} req/s, "
          f"p99 {result.p99_ms:.2f} ms, failed requests {result.errors}")  # fmt: skip
    verdict(
        f"shift ({args.instances}+{args.instances} replicas), c=16: scoring URI / mlflow req/s",
        result.rps / mlflow_rps,
        10,
    )
    verdict("shift: failed requests", result.errors, 0, "", higher=False)


if __name__ == "__main__":
    main()
