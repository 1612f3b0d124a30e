"""``mlflow.log_metric`` over HTTP through kiln's ``/mlflow`` against a plain ``mlflow server``, side by side.

Both on loopback with SQLite stores, the real ``mlflow`` client (``MlflowClient``, one call after
another, as a training loop makes them). Rounds alternate between the two servers so that a busy
machine slows both alike; the figures are medians over rounds. Also: ``log_batch`` of 1,000 metrics
(metrics per second), and the servers' CPU per ``log_metric`` call from ``/proc`` (kiln: the
workspace server plus its MLflow child; mlflow: its server process tree).

    .venv/bin/python bench/tracking/log_metric_vs_mlflow.py [--calls 200] [--batches 5] [--rounds 3]

Goals (issue 13): ``log_metric`` ≤ 5 ms per call through ``/mlflow``; ``log_batch`` ≥ 20,000 metrics/s.
Run it inside a loopback-only namespace: ``unshare -n sh -c 'ip link set lo up && .venv/bin/python …'``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from workspace_server import BenchWorkspace  # noqa: E402

LOG_METRIC_GOAL_MS = 5.0
LOG_BATCH_GOAL = 20_000.0


class PlainMlflow:
    """``mlflow server`` as its documentation starts it, on a SQLite store of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> PlainMlflow:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        mlflow = Path(sys.executable).with_name("mlflow")
        command = [str(mlflow) if mlflow.exists() else "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", "1", "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}"]
        command += ["--default-artifact-root", str(self.folder / "artifacts")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {
            "MLFLOW_DISABLE_TELEMETRY": "true"
        }
        out = (self.folder / "mlflow.out").open("wb")
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"mlflow server did not start; see {self.folder / 'mlflow.out'}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait(30)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            times = process.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


class Target:
    """One server and a run on it. MLflow's client sends MLFLOW_TRACKING_TOKEN (the workspace's) to
    both: a plain ``mlflow server`` ignores the header."""

    def __init__(self, name: str, uri: str, pid: int) -> None:
        from mlflow.tracking import MlflowClient

        self.name, self.pid = name, pid
        self.client = MlflowClient(tracking_uri=uri)
        experiment = self.client.create_experiment(f"bench-{time.time_ns()}")
        self.run_id = self.client.create_run(experiment).info.run_id
        self.step = 0
        for step in range(20):  # warm-up: connections, caches, kiln's writer
            self.client.log_metric(self.run_id, "warmup", 1.0, step=step)

    def log_metric_round(self, calls: int) -> tuple[float, float]:
        """(ms per call, server CPU ms per call)."""
        cpu = tree_cpu(self.pid)
        start = time.perf_counter()
        for _ in range(calls):
            self.client.log_metric(self.run_id, "loss", 1.0 / (self.step + 1), step=self.step)
            self.step += 1
        elapsed = time.perf_counter() - start
        return elapsed / calls * 1000, (tree_cpu(self.pid) - cpu) / calls * 1000

    def log_batch_round(self, batches: int) -> float:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        payloads = [
            [Metric(f"m{i % 10}", float(i), now, self.step + b * 100 + i // 10) for i in range(1000)]
            for b in range(batches)
        ]
        self.step += batches * 100
        start = time.perf_counter()
        for metrics in payloads:
            self.client.log_batch(self.run_id, metrics=metrics)
        return batches * 1000 / (time.perf_counter() - start)

    def stored(self) -> int:
        return len(self.client.get_metric_history(self.run_id, "loss"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="log_metric calls per round and server")
    parser.add_argument("--batches", type=int, default=5, help="1,000-metric log_batch calls per round and server")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-tracking-") as tmp:
        kiln_home, plain_home = Path(tmp) / "kiln", Path(tmp) / "mlflow"
        kiln_home.mkdir()
        plain_home.mkdir()
        with BenchWorkspace(kiln_home) as workspace, PlainMlflow(plain_home) as plain:
            assert workspace._process is not None and plain.process is not None
            os.environ["MLFLOW_TRACKING_TOKEN"] = workspace.token
            targets = [
                Target("kiln /mlflow", f"{workspace.url}/mlflow", workspace._process.pid),
                Target("mlflow server", plain.url, plain.process.pid),
            ]
            latency: dict[str, list[float]] = {t.name: [] for t in targets}
            cpu: dict[str, list[float]] = {t.name: [] for t in targets}
            batch: dict[str, list[float]] = {t.name: [] for t in targets}
            for _ in range(args.rounds):
                for target in targets:
                    ms, cpu_ms = target.log_metric_round(args.calls)
                    latency[target.name].append(ms)
                    cpu[target.name].append(cpu_ms)
                for target in targets:
                    batch[target.name].append(target.log_batch_round(args.batches))
            for target in targets:
                stored = target.stored()
                assert stored == args.rounds * args.calls, f"{target.name}: {stored} values stored"
    report(args, latency, cpu, batch)


def report(
    args: argparse.Namespace,
    latency: dict[str, list[float]],
    cpu: dict[str, list[float]],
    batch: dict[str, list[float]],
) -> None:
    median = statistics.median
    print(
        f"\nMLflow logging over HTTP, loopback, SQLite, {os.cpu_count()} cores; medians of {args.rounds} alternated "
        f"rounds of {args.calls} log_metric calls and {args.batches} × 1000-metric log_batch calls"
    )
    print(f"  {'':16}{'log_metric ms/call':>20}{'server CPU ms/call':>20}{'log_batch metrics/s':>21}")
    for name in latency:
        print(f"  {name:16}{median(latency[name]):20.2f}{median(cpu[name]):20.2f}{median(batch[name]):21.0f}")
    kiln, plain = "kiln /mlflow", "mlflow server"
    print(f"  kiln / mlflow server: log_metric time {median(latency[kiln]) / median(latency[plain]):.2f}x, "
          f"log_batch rate {median(batch[kiln]) / median(batch[plain]):.2f}x")  # fmt: skip
    ms = median(latency[kiln])
    rate = median(batch[kiln])
    print(f"{'PASS' if ms <= LOG_METRIC_GOAL_MS else 'FAIL'}: log_metric through /mlflow {ms:.2f} ms "
          f"(goal ≤ {LOG_METRIC_GOAL_MS:g} ms)")  # fmt: skip
    print(f"{'PASS' if rate >= LOG_BATCH_GOAL else 'FAIL'}: log_batch through /mlflow {rate:,.0f} metrics/s "
          f"(goal ≥ {LOG_BATCH_GOAL:,.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
