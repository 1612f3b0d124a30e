"""The same scikit-learn model served natively and as ONNX by kiln's scoring replicas, side by side.

Two models on iris: a LogisticRegression and a pipeline (StandardScaler + LogisticRegression).
Each is saved twice: as MLflow's sklearn flavor (the native replica: scikit-learn on arrays,
``array_path.py``) and converted with skl2onnx as MLflow's onnx flavor (the replica runs kiln's own
ONNX Runtime session, ``onnx_path.py``, one intra-op thread). Both replicas take the same Azure
body (``/score``, ``input_data`` rows) with 1 and with 64 rows, at concurrency 1 and 16, driven by
``wrk`` when installed (``apt-get install wrk``), else by a bounded Python generator. Both replicas
run at once on the same machine (the one not driven is idle), and each cell is measured in slices
that alternate between them, so that other load on the machine falls on both alike. Prints requests/s and p50/p99 per target, the
ratios ONNX / native, and the goal: ONNX at least 2x the native replica's requests/s for single rows.

    .venv/bin/python bench/serving/onnx_vs_native.py [--seconds 6] [--generator wrk|python]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from replica_vs_mlflow import REPLICA_SECRET, Result, run_python, run_wrk, start, stop  # noqa: E402

from kiln.internal_secret import HEADER_NAME as INTERNAL_SECRET  # noqa: E402
from kiln.processes import free_port  # noqa: E402

GOAL = 2.0  # ONNX / native requests/s, single rows
CONCURRENCIES = (1, 16)
ROW_COUNTS = (1, 64)
SLICES = 3  # each cell's time, in slices alternating between the two replicas


def models() -> dict[str, Any]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True, as_frame=True)
    return {
        "logistic regression": (LogisticRegression(max_iter=500).fit(X, y), X),
        "scaler + logistic regression": (
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y),
            X,
        ),
    }


def save_both(model: Any, X: Any, folder: Path) -> tuple[Path, Path]:
    """The native MLflow model (column signature, input example) and its ONNX twin (tensor signature)."""
    import mlflow.onnx
    import mlflow.sklearn
    import numpy as np
    from mlflow.models import infer_signature
    from skl2onnx import to_onnx

    native = folder / "native"
    mlflow.sklearn.save_model(
        model, str(native), signature=infer_signature(X, model.predict(X)), input_example=X.iloc[:2],
        pip_requirements=["scikit-learn"],
    )  # fmt: skip
    features = X.to_numpy(np.float32)
    graph = to_onnx(model, features[:1], options={"zipmap": False}, target_opset=17)
    onnx = folder / "onnx"
    mlflow.onnx.save_model(
        graph, str(onnx), signature=infer_signature(features), input_example=features[:2],
        pip_requirements=["onnxruntime"],
    )  # fmt: skip
    return native, onnx


def replica_command(model_dir: Path, folder: Path, name: str) -> tuple[list[str], int]:
    port = free_port()
    config = folder / f"replica-{name}.json"
    config.write_text(json.dumps({
        "endpoint": "bench", "deployment": name, "port": port, "model_name": "iris", "model_dir": str(model_dir),
        "secret": REPLICA_SECRET, "max_concurrent_requests": 256, "onnx": {"intra_op_threads": 1},
    }))  # fmt: skip
    return [sys.executable, "-m", "kiln.serving.replica", str(config)], port


def bodies(X: Any) -> dict[int, str]:
    sample = X.sample(max(ROW_COUNTS), replace=True, random_state=0).to_numpy().tolist()
    return {rows: json.dumps({"input_data": sample[:rows]}) for rows in ROW_COUNTS}


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def serve(model_dir: Path, name: str, folder: Path) -> tuple[Any, str, str]:
    """A replica of ``model_dir``: its process, its base URL, and which path it scores on (from its log)."""
    command, port = replica_command(model_dir, folder, name)
    base = f"http://127.0.0.1:{port}"
    log = folder / f"{name}.log"
    process = start(command, base + "/v2/health/ready", log, cwd=folder, headers={INTERNAL_SECRET: REPLICA_SECRET})
    text = log.read_text()
    path = "ONNX Runtime" if "scoring on ONNX Runtime" in text else "arrays" if "with arrays" in text else "pyfunc"
    return process, base, path


def combined(parts: list[Result]) -> Result:
    """Equal-length slices: mean requests/s, median p50, worst p99, all errors."""
    return Result(
        statistics.fmean(part.rps for part in parts),
        statistics.median(part.p50_ms for part in parts),
        max(part.p99_ms for part in parts),
        sum(part.errors for part in parts),
    )


def measure(
    targets: dict[str, str], body_of: dict[int, str], seconds: float, drive: Callable[..., Result]
) -> dict[tuple[str, int, int], Result]:
    """Every cell (rows, concurrency) on every target, in alternating slices (A B A B ...), so that load
    from elsewhere on the machine falls on both alike."""
    headers = {INTERNAL_SECRET: REPLICA_SECRET}
    results: dict[tuple[str, int, int], Result] = {}
    for rows, body in body_of.items():
        for concurrency in CONCURRENCIES:
            parts: dict[str, list[Result]] = {name: [] for name in targets}
            for base in targets.values():
                drive(base + "/score", body, concurrency, 1, headers)  # warm-up
            for _ in range(SLICES):
                for name, base in targets.items():
                    parts[name].append(drive(base + "/score", body, concurrency, seconds / SLICES, headers))
            for name in targets:
                result = results[(name, rows, concurrency)] = combined(parts[name])
                print(
                    f"  {name:7} rows={rows:<3} c={concurrency:<3} {result.rps:8.0f} req/s   "
                    f"p50 {result.p50_ms:6.2f} ms   p99 {result.p99_ms:6.2f} ms   errors {result.errors}",
                    flush=True,
                )
    return results


def compare(title: str, model: Any, X: Any, folder: Path, seconds: float, drive: Callable[..., Result]) -> list[float]:
    """One model's table; returns its single-row ratios (ONNX / native requests/s)."""
    folder.mkdir()
    native_dir, onnx_dir = save_both(model, X, folder)
    print(f"\n{title}")
    native_process, native_base, native_path = serve(native_dir, "native", folder)
    try:
        onnx_process, onnx_base, onnx_path = serve(onnx_dir, "onnx", folder)
        try:
            print(f"  the native replica scores on {native_path}, the ONNX one on {onnx_path}")
            results = measure({"native": native_base, "onnx": onnx_base}, bodies(X), seconds, drive)
        finally:
            stop(onnx_process)
    finally:
        stop(native_process)
    print(
        f"  {'rows':>4} {'c':>3} {'native req/s':>13} {'onnx req/s':>11} {'onnx/native':>12} {'p50 native':>11} {'p50 onnx':>9}"
    )
    single_row: list[float] = []
    for rows in ROW_COUNTS:
        for concurrency in CONCURRENCIES:
            ours, theirs = results[("onnx", rows, concurrency)], results[("native", rows, concurrency)]
            ratio = ours.rps / theirs.rps
            if rows == 1:
                single_row.append(ratio)
            print(
                f"  {rows:>4} {concurrency:>3} {theirs.rps:>13.0f} {ours.rps:>11.0f} {ratio:>11.2f}x "
                f"{theirs.p50_ms:>9.2f}ms {ours.p50_ms:>7.2f}ms"
            )
    return single_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6, help="per cell and replica, in 3 slices")
    parser.add_argument("--generator", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kiln-bench-onnx-"))

    def drive(url: str, body: str, concurrency: int, seconds: float, headers: dict[str, str]) -> Result:
        if args.generator == "wrk":
            return run_wrk(url, body, concurrency, seconds, folder, headers)
        return run_python(url, body, concurrency, seconds, headers)

    print(
        f"generator: {args.generator}; {args.seconds:g} s per cell and replica; /score, input_data rows; {load_average()}"
    )
    single_row_ratios: list[float] = []
    for index, (title, (model, X)) in enumerate(models().items()):
        single_row_ratios += compare(title, model, X, folder / f"model-{index}", args.seconds, drive)
    worst = min(single_row_ratios)
    verdict = "PASS" if worst >= GOAL else "FAIL"
    print(f"\n{load_average()}")
    print(
        f"goal: ONNX >= {GOAL:g}x the native replica's requests/s for single rows: {verdict} "
        f"(lowest single-row ratio {worst:.2f}x, over both models at c=1 and c=16)"
    )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
