"""Scoring replica vs ``mlflow models serve`` on single-row iris requests, on loopback.

Targets, started one at a time on the same saved scikit-learn iris model:
- kiln's replica (``python -m kiln.serving.replica``), default batching, and with batching off;
- ``mlflow models serve -m MODEL --env-manager local -w 1`` (one uvicorn worker), the baseline;
- a do-nothing FastAPI app on uvicorn (same loop and HTTP parser), the HTTP floor.
Each is driven at concurrency 1 and 16 with the same ``dataframe_split`` body to
``/invocations`` (kiln's ``/score`` too), by ``wrk`` (Debian's package) when installed, else by
a bounded Python asyncio/httpx generator. Prints requests/s, p50 and p99 per target, and
the ratios the target is judged on: at concurrency 16, replica ≥ 5× mlflow's requests/s with
a lower p99.

    .venv/bin/python bench/serving/replica_vs_mlflow.py [--seconds 8] [--generator wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from kiln.internal_secret import HEADER_NAME as INTERNAL_SECRET
from kiln.processes import QUIET_ENVIRONMENT, free_port

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
REPLICA_SECRET = "bench-replica-secret-0123456789"  # what a replica wants from its gateway (kiln.internal_secret)
MLFLOW_BODY = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[5.1, 3.5, 1.4, 0.2]]}})
AZURE_BODY = json.dumps({"input_data": [[5.1, 3.5, 1.4, 0.2]]})
FLOOR_APP = """
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()


@app.post("/invocations")
async def invocations(request: Request) -> Response:
    await request.body()
    return Response(b'{"predictions":[0]}', media_type="application/json")


@app.get("/ping")
async def ping() -> Response:
    return Response(b"{}", media_type="application/json")
"""


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def save_model(folder: Path) -> Path:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    path = folder / "iris"
    mlflow.sklearn.save_model(
        model, str(path), signature=infer_signature(X, model.predict(X)), input_example=X.iloc[:2],
        pip_requirements=["scikit-learn"],  # not inferred: that takes seconds and changes nothing here
    )  # fmt: skip
    return path


def start(
    command: list[str], ready_url: str, log: Path, cwd: Path | None = None, headers: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    # mlflow serve runs `uvicorn` by name: this interpreter's bin folder comes first on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, **QUIET_ENVIRONMENT, "PATH": path}
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{command[:4]} exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(ready_url, timeout=2, headers=headers).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(process)
    raise SystemExit(f"{command[:4]} not ready in 120 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group this bench started (mlflow serve runs uvicorn as a child)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_wrk(
    url: str, body: str, concurrency: int, seconds: float, folder: Path, headers: dict[str, str] | None = None
) -> Result:
    script = folder / "post.lua"
    extra = "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in (headers or {}).items())
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n' + extra + "done = function(summary, latency, requests)\n"
        '  io.write(string.format("KILN p50=%d p99=%d errors=%d non2xx=%d\\n", latency:percentile(50), '
        "latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write + "
        "summary.errors.timeout, summary.errors.status))\n"
        "end\n"
    )
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    marks = dict(re.findall(r"(\w+)=(\d+)", output.split("KILN", 1)[1]))
    return Result(rps, int(marks["p50"]) / 1000, int(marks["p99"]) / 1000, int(marks["errors"]) + int(marks["non2xx"]))


def run_python(url: str, body: str, concurrency: int, seconds: float, headers: dict[str, str] | None = None) -> Result:
    """Bounded in time and in count (at most 200,000 requests); failed requests are counted, not raised."""

    async def go() -> Result:
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        sent = httpx.Headers({"content-type": "application/json"})
        sent.update(headers or {})  # case-insensitive: a caller's Content-Type replaces the default
        async with httpx.AsyncClient(limits=limits, timeout=10, headers=sent) as client:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline and len(latencies) < 200_000:
                    began = time.perf_counter()
                    try:
                        response = await client.post(url, content=body)
                        errors += response.status_code != 200
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - began)

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - began
        quantiles = statistics.quantiles(latencies, n=100)
        return Result(len(latencies) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000, errors)

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--generator", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kiln-bench-serving-"))
    model = save_model(folder)
    (folder / "floor_app.py").write_text(FLOOR_APP)
    python = sys.executable

    def replica(batch: int) -> tuple[list[str], str, int]:
        port = free_port()
        config = folder / f"replica-{batch}.json"
        config.write_text(json.dumps({
            "endpoint": "bench", "deployment": "blue", "port": port, "model_name": "iris", "model_dir": str(model),
            "secret": REPLICA_SECRET,
            "max_concurrent_requests": 256, "batching": {"max_batch_size": batch},
        }))  # fmt: skip
        return [python, "-m", "kiln.serving.replica", str(config)], "/v2/health/ready", port

    def mlflow_serve() -> tuple[list[str], str, int]:
        port = free_port()
        command = [python, "-m", "mlflow", "models", "serve", "-m", str(model), "--env-manager", "local"]
        return [*command, "-w", "1", "-h", "127.0.0.1", "-p", str(port)], "/ping", port

    def floor() -> tuple[list[str], str, int]:
        port = free_port()
        command = [python, "-m", "uvicorn", "floor_app:app", "--port", str(port), "--workers", "1", "--no-access-log"]
        return command, "/ping", port

    targets = [
        ("kiln replica /invocations", lambda: replica(1024), "/invocations", MLFLOW_BODY),
        ("kiln replica /score", lambda: replica(1024), "/score", AZURE_BODY),
        ("kiln replica, batching off", lambda: replica(1), "/invocations", MLFLOW_BODY),
        ("mlflow models serve (1 worker)", mlflow_serve, "/invocations", MLFLOW_BODY),
        ("FastAPI do-nothing (floor)", floor, "/invocations", MLFLOW_BODY),
    ]
    print(f"generator: {args.generator}; {args.seconds:g} s per run; single-row iris requests; {os.cpu_count()} cores")
    results: dict[tuple[str, int], Result] = {}
    for name, make, path, body in targets:
        command, ready_path, port = make()
        base = f"http://127.0.0.1:{port}"
        headers = {INTERNAL_SECRET: REPLICA_SECRET} if name.startswith("kiln") else {}
        process = start(command, base + ready_path, folder / f"{port}.log", cwd=folder, headers=headers)
        try:
            for concurrency in (1, 16):
                if args.generator == "wrk":
                    run_wrk(base + path, body, concurrency, 1, folder, headers)  # warm-up
                    result = run_wrk(base + path, body, concurrency, args.seconds, folder, headers)
                else:
                    run_python(base + path, body, concurrency, 1, headers)
                    result = run_python(base + path, body, concurrency, args.seconds, headers)
                results[(name, concurrency)] = result
                print(
                    f"{name:32} c={concurrency:<3} {result.rps:9.0f} req/s   p50 {result.p50_ms:7.2f} ms   "
                    f"p99 {result.p99_ms:7.2f} ms   errors {result.errors}",
                    flush=True,
                )
        finally:
            stop(process)
    ours, theirs = results[("kiln replica /invocations", 16)], results[("mlflow models serve (1 worker)", 16)]
    floor_result = results[("FastAPI do-nothing (floor)", 16)]
    print()
    print(f"c=16 requests/s, replica / mlflow: {ours.rps / theirs.rps:.1f}x (target >= 5x)")
    print(f"c=16 p99, replica / mlflow: {ours.p99_ms / theirs.p99_ms:.2f} (target < 1)")
    print(f"c=16 requests/s, replica / do-nothing FastAPI floor: {ours.rps / floor_result.rps:.2f}")
    c1_ours, c1_theirs = results[("kiln replica /invocations", 1)], results[("mlflow models serve (1 worker)", 1)]
    print(f"c=1 requests/s, replica / mlflow: {c1_ours.rps / c1_theirs.rps:.1f}x")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
