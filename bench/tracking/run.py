"""Tracking and job-submission throughput of a workspace on SQLite and on PostgreSQL, side by side.

- MLflow logging over HTTP through the workspace's ``/mlflow`` proxy, with the real ``mlflow``
  client: single ``log_metric`` calls per second, and metrics per second in ``log_batch``
  calls of 1,000 metrics.
- Jobs: submissions per second through the SDK (REST), one after another; then a burst of
  trivial jobs submitted at once: submit → all completed, and each job's submit → completed.

    .venv/bin/python bench/tracking/run.py [--metric-calls 500] [--batches 20] [--jobs 30] [--concurrency 4]

Each backend gets its own workspace in a temporary KILN_HOME on loopback; PostgreSQL is a
throw-away cluster (tests/postgres_server.py: the Debian package's binaries, run as the
``postgres`` user when root). Run it inside a loopback-only namespace:
``unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/tracking/run.py'``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO))

from workspace_server import BenchWorkspace  # noqa: E402

TRIVIAL_JOB = {"command": 'python -c "print(1)"', "experiment_name": "bench-jobs", "compute": "local"}


def tracking(workspace: BenchWorkspace, metric_calls: int, batches: int) -> dict[str, float]:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_TRACKING_TOKEN"] = workspace.token
    client = MlflowClient(tracking_uri=f"{workspace.url}/mlflow")
    experiment = client.create_experiment(f"bench-tracking-{time.time_ns()}")
    run_id = client.create_run(experiment).info.run_id
    for step in range(20):  # warm-up: connection, caches
        client.log_metric(run_id, "warmup", float(step), step=step)
    start = time.perf_counter()
    for step in range(metric_calls):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    single = metric_calls / (time.perf_counter() - start)
    now = int(time.time() * 1000)
    start = time.perf_counter()
    for batch in range(batches):
        metrics = [Metric(f"m{i % 10}", float(i), now, batch * 100 + i // 10) for i in range(1000)]
        client.log_batch(run_id, metrics=metrics)
    batched = batches * 1000 / (time.perf_counter() - start)
    stored = len(client.get_metric_history(run_id, "loss"))
    assert stored == metric_calls, f"{stored} of {metric_calls} metric values stored"
    client.set_terminated(run_id)
    return {"log_metric calls/s": single, "log_batch metrics/s": batched}


def jobs(workspace: BenchWorkspace, count: int) -> dict[str, float]:
    from kiln import Client

    with Client(url=workspace.url, token=workspace.token) as client:
        client.jobs.create(dict(TRIVIAL_JOB)).wait(timeout=120, poll=0.05)  # warm-up: the experiment exists
        # submissions one after another (they also start running: that load is part of it)
        start = time.perf_counter()
        sequential = [client.jobs.create(dict(TRIVIAL_JOB)) for _ in range(count)]
        submit_rate = count / (time.perf_counter() - start)
        _wait_all(client, [job.name for job in sequential])
        # a burst: all submitted, then all done
        from concurrent.futures import ThreadPoolExecutor

        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            burst = list(pool.map(lambda _: client.jobs.create(dict(TRIVIAL_JOB)), range(count)))
        submitted = time.perf_counter() - start
        views = _wait_all(client, [job.name for job in burst])
        done = time.perf_counter() - start
    latencies = [(v.ended_at - v.created_at).total_seconds() for v in views]  # type: ignore[operator]
    return {
        "job submissions/s (sequential)": submit_rate,
        "burst: submissions/s (8 threads)": count / submitted,
        "burst: submit → all completed (s)": done,
        "burst: jobs completed/s": count / done,
        "burst: submit → completed, median (s)": statistics.median(latencies),
    }


def _wait_all(client: Any, names: list[str], timeout: float = 600) -> list[Any]:
    deadline = time.monotonic() + timeout
    pending = set(names)
    views = {}
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} jobs did not end within {timeout}s")
        for job in client.jobs.list(limit=len(names) + 50):
            if job.name in pending and job.status.is_terminal:
                assert job.status.value == "completed", job.view.failure_reason
                pending.discard(job.name)
                views[job.name] = job.view
        time.sleep(0.05)
    return [views[name] for name in names]


def measure(name: str, settings: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"kiln-bench-{name}-") as tmp:
        with BenchWorkspace(Path(tmp), settings=settings) as workspace:
            print(f"{name}: workspace at {workspace.url}", file=sys.stderr, flush=True)
            return tracking(workspace, args.metric_calls, args.batches) | jobs(workspace, args.jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metric-calls", type=int, default=500)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=4, help="local_concurrency of each workspace")
    args = parser.parse_args()
    from tests.postgres_server import PostgresServer

    common = {"local_concurrency": str(args.concurrency)}
    results: dict[str, dict[str, float]] = {"SQLite": measure("sqlite", common, args)}
    with PostgresServer.start() as postgres:
        url = postgres.create_database("kiln_bench")
        results["PostgreSQL"] = measure("postgres", common | {"database_url": url}, args)
    report(results, args)


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    sqlite, postgres = results["SQLite"], results["PostgreSQL"]
    print(
        f"\ntracking and jobs through the workspace, loopback, {os.cpu_count()} cores; "
        f"{args.metric_calls} log_metric calls, {args.batches} × 1000-metric log_batch, "
        f"{args.jobs} trivial jobs (local_concurrency {args.concurrency})"
    )
    width = max(len(key) for key in sqlite)
    print(f"  {'':{width}}  {'SQLite':>10}  {'PostgreSQL':>10}  {'PG / SQLite':>11}")
    for key in sqlite:
        print(f"  {key:{width}}  {_fmt(sqlite[key])}  {_fmt(postgres[key])}  {postgres[key] / sqlite[key]:10.2f}x")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "tracking.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


def _fmt(value: float, render: Callable[[float], str] = lambda v: f"{v:10.1f}" if v >= 10 else f"{v:10.3f}") -> str:
    return render(value)


if __name__ == "__main__":
    main()
