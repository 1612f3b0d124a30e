"""``kiln server start`` to ready, against ``mlflow server`` start to ready, side by side.

- kiln: the CLI's ``kiln server start`` (what a user runs) from its launch until it returns, which it does
  once ``/health`` says ``ok``; then ``/mlflow`` ready: until a tracking call through the proxy
  (``experiments/search`` with the workspace token) answers 200, from the same launch.
- Each run in a fresh KILN_HOME, then a second start of the same home (its databases already migrated).
- Baseline: ``mlflow server --workers 1`` on a fresh SQLite store, from its launch until its ``/health``
  answers 200 (what ``/mlflow`` had to wait for before kiln started MLflow itself).

Runs alternate (kiln, mlflow, kiln, …); the figures are medians. Goals (issue 13): ready ≤ 3 s, ``/mlflow``
ready ≤ 8 s.

    python bench/startup/server.py [--runs 3] [--timeout 120]

Run it inside a loopback-only namespace: ``unshare -n sh -c 'ip link set lo up && python bench/startup/server.py'``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
READY_GOAL_SECONDS = 3.0
MLFLOW_READY_GOAL_SECONDS = 8.0
POLL_SECONDS = 0.02


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "MLFLOW_"))}
    path = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    return env | {"KILN_HOME": str(home), "KILN_GPUS": "", "PYTHONPATH": path, "MLFLOW_DISABLE_TELEMETRY": "true"}


def _kiln(home: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiln", *args], env=_environment(home), capture_output=True, text=True, timeout=timeout
    )


def kiln_start(home: Path, timeout: float) -> tuple[float, float]:
    """Seconds from launching ``kiln server start`` to its return (ready), and to ``/mlflow`` answering."""
    launched = time.perf_counter()
    started = _kiln(home, "server", "start", timeout=timeout)
    ready = time.perf_counter() - launched
    if started.returncode != 0:
        raise SystemExit(f"kiln server start failed:\n{started.stdout}{started.stderr}")
    url = json.loads((home / "server.json").read_text())["url"]
    token = (home / "token").read_text().strip()
    search = f"{url}/mlflow/api/2.0/mlflow/experiments/search"
    deadline = launched + timeout
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as client:
        while time.perf_counter() < deadline:
            try:
                if client.get(search, params={"max_results": 1}).status_code == 200:
                    return ready, time.perf_counter() - launched
            except httpx.HTTPError:
                pass
            time.sleep(POLL_SECONDS)
    raise SystemExit(f"/mlflow did not answer within {timeout:.0f}s; see {home / 'server.log'}")


def kiln_stop(home: Path, timeout: float) -> None:
    _kiln(home, "server", "stop", timeout=timeout)


def mlflow_server_start(folder: Path, timeout: float) -> float:
    """Seconds from launching ``mlflow server`` on a fresh SQLite store to its ``/health`` answering 200."""
    port = _free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    command = [
        str(mlflow) if mlflow.exists() else "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--default-artifact-root", str(folder / "artifacts"),
    ]  # fmt: skip
    env = _environment(folder)
    launched = time.perf_counter()
    with open(folder / "mlflow.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = launched + timeout
        while time.perf_counter() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return time.perf_counter() - launched
            except httpx.HTTPError:
                pass
            time.sleep(POLL_SECONDS)
        raise SystemExit(f"mlflow server did not start; see {folder / 'mlflow.log'}")
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, 15)
        process.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, 9)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(runs: int, timeout: float) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {
        "fresh ready": [], "fresh mlflow": [], "again ready": [], "again mlflow": [], "mlflow server": [],
    }  # fmt: skip
    for number in range(runs):
        scratch = Path(tempfile.mkdtemp(prefix="kiln-bench-start-"))
        home = scratch / "home"
        try:
            for label in ("fresh", "again"):
                try:
                    ready, mlflow_ready = kiln_start(home, timeout)
                finally:
                    kiln_stop(home, timeout)
                figures[f"{label} ready"].append(ready)
                figures[f"{label} mlflow"].append(mlflow_ready)
            baseline = scratch / "mlflow"
            baseline.mkdir()
            figures["mlflow server"].append(mlflow_server_start(baseline, timeout))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        last = {name: values[-1] for name, values in figures.items()}
        print(f"run {number + 1}/{runs}: " + ", ".join(f"{name} {value:.2f} s" for name, value in last.items()))
    return figures


def report(figures: dict[str, list[float]]) -> bool:
    median = {name: statistics.median(values) for name, values in figures.items()}
    baseline = median["mlflow server"]
    print()
    print(
        f"{'start (median of ' + str(len(figures['mlflow server'])) + ')':<44} {'seconds':>8} {'× mlflow server':>16}"
    )
    rows = [
        ("kiln server start → ready (fresh home)", median["fresh ready"]),
        ("kiln server start → /mlflow ready (fresh home)", median["fresh mlflow"]),
        ("kiln server start → ready (existing home)", median["again ready"]),
        ("kiln server start → /mlflow ready (existing home)", median["again mlflow"]),
        ("baseline: mlflow server → /health (fresh store)", baseline),
    ]
    for name, value in rows:
        print(f"{name:<50} {value:>8.2f} {value / baseline:>10.2f}")
    ready = max(median["fresh ready"], median["again ready"])
    mlflow_ready = max(median["fresh mlflow"], median["again mlflow"])
    checks = [
        (f"kiln server start → ready ≤ {READY_GOAL_SECONDS:.0f} s", ready, READY_GOAL_SECONDS),
        (f"kiln server start → /mlflow ready ≤ {MLFLOW_READY_GOAL_SECONDS:.0f} s", mlflow_ready, MLFLOW_READY_GOAL_SECONDS),
    ]  # fmt: skip
    print()
    for name, value, goal in checks:
        print(f"{'PASS' if value <= goal else 'FAIL'}: {name} (worst median {value:.2f} s)")
    return all(value <= goal for _, value, goal in checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh homes (each started twice), and mlflow servers")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one start may take")
    args = parser.parse_args()
    report(measure(args.runs, args.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
