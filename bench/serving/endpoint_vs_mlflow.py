"""An online endpoint through its scoring URI (key auth, traffic routing, the gateway's proxy
hop) vs ``mlflow models serve`` on the same iris model, single-row requests on loopback.

- kiln: a workspace server in a temporary KILN_HOME; endpoint ``bench`` with deployment
  ``blue`` (``--instances`` replicas) at 100 %; requests go to ``/endpoints/bench/invocations``
  with ``Authorization: Bearer <key>``.
- baselines: ``mlflow models serve -m MODEL --env-manager local -w 1``, and a do-nothing FastAPI
  app (one uvicorn worker) as the HTTP floor.
Both driven at concurrency 16 (and 1) by the same generator (wrk if installed, else asyncio/httpx). Then a green
deployment is added and traffic moves blue→green in steps while 16 callers keep going: the
number of failed requests must be 0.

Target: at concurrency 16, the endpoint ≥ 5× mlflow's requests/s with a lower p99.

    .venv/bin/python bench/serving/endpoint_vs_mlflow.py [--seconds 8] [--instances 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from replica_vs_mlflow import FLOOR_APP, MLFLOW_BODY, Result, run_python, run_wrk, save_model, start, stop  # noqa: E402
from workspace_server import BenchWorkspace  # noqa: E402

from kiln.processes import free_port  # noqa: E402

PROBES = {"initial_delay": 0, "period": 1, "failure_threshold": 120}


def measure(url: str, headers: dict[str, str], concurrency: int, seconds: float, folder: Path) -> Result:
    """wrk when installed (a Python generator saturates a core long before the servers do), else ``drive``."""
    if shutil.which("wrk"):
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return run_wrk(url, MLFLOW_BODY, concurrency, seconds, folder, extra)
    return drive(url, headers, concurrency, seconds)


def drive(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> Result:
    return run_python(url, MLFLOW_BODY, concurrency, seconds, headers)


def print_row(name: str, concurrency: int, result: Result) -> None:
    print(
        f"{name:<28} c={concurrency:<3} {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--instances", type=int, default=2)
    args = parser.parse_args()

    from kiln import Client

    with tempfile.TemporaryDirectory(prefix="kiln-bench-endpoint-") as scratch:
        folder = Path(scratch)
        model = save_model(folder)
        home = folder / "home"
        home.mkdir()
        with BenchWorkspace(home) as workspace, Client(url=workspace.url, token=workspace.token) as client:
            url = workspace.url
            client.models.create(name="iris-bench", path=str(model))
            client.online_endpoints.create({"name": "bench"})
            for name in ("blue", "green"):
                client.online_deployments.create(
                    {"name": name, "endpoint_name": "bench", "model": "kiln:iris-bench:1",
                     "instance_count": args.instances, "readiness_probe": PROBES},
                    all_traffic=name == "blue",
                )  # fmt: skip
            key = client.online_endpoints.get_keys("bench").primary_key
            scoring = f"{url}/endpoints/bench/invocations"
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            drive(scoring, headers, 16, 1.0)  # warm the pools
            results = {c: measure(scoring, headers, c, args.seconds, folder) for c in (1, 16)}

            port = free_port()
            mlflow_serve = start(
                [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model), "--env-manager", "local",
                 "-w", "1", "-h", "127.0.0.1", "-p", str(port)],
                f"http://127.0.0.1:{port}/ping", folder / "mlflow.log",
            )  # fmt: skip
            try:
                plain = {"Content-Type": "application/json"}
                baseline = {
                    c: measure(f"http://127.0.0.1:{port}/invocations", plain, c, args.seconds, folder) for c in (1, 16)
                }
            finally:
                stop(mlflow_serve)
            (folder / "floor_app.py").write_text(FLOOR_APP)
            port = free_port()
            floor_app = start(
                [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port), "--workers", "1",
                 "--no-access-log"],
                f"http://127.0.0.1:{port}/ping", folder / "floor.log", cwd=folder,
            )  # fmt: skip
            try:
                floor = {
                    c: measure(f"http://127.0.0.1:{port}/invocations", plain, c, args.seconds, folder) for c in (1, 16)
                }
            finally:
                stop(floor_app)

            for c in (1, 16):
                print_row(f"kiln endpoint ({args.instances} replicas)", c, results[c])
                print_row("mlflow models serve -w 1", c, baseline[c])
                print_row("FastAPI do-nothing (floor)", c, floor[c])
            ratio = results[16].rps / baseline[16].rps
            lower_p99 = results[16].p99_ms < baseline[16].p99_ms
            print(f"\nc=16: endpoint/mlflow requests/s = {ratio:.2f}x (target >= 5x); lower p99: {lower_p99}")
            print(f"c=16: endpoint/floor requests/s = {results[16].rps / floor[16].rps:.2f}x")

            # traffic shifted blue → green under load
            shifted: list[Result] = []
            load = threading.Thread(target=lambda: shifted.append(drive(scoring, headers, 16, 6.0)))
            load.start()
            for blue, green in ((75, 25), (50, 50), (25, 75), (0, 100)):
                time.sleep(1.0)
                client.online_endpoints.update("bench", traffic={"blue": blue, "green": green})
            load.join()
            print(f"blue→green shift under load: {shifted[0].rps:.1f} req/s, failed requests: {shifted[0].errors}")
            client.online_endpoints.delete("bench")


if __name__ == "__main__":
    main()
