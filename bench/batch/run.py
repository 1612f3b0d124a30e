"""Batch scoring's throughput: rows/s of a scikit-learn model over N rows of CSV files, three ways on this machine.

- ``plain``: one process, ``model.predict`` on each file's rows (read with pandas), the predictions written as CSV:
  the baseline a user would write by hand;
- ``kiln, 1 worker`` and ``kiln, 2 workers``: a batch_scoring job's process (``python -m kiln.batch.entry``, the
  no-code MLflow path: each worker loads the model once, each mini-batch is read, predicted and written as its part
  file, the parts joined in order into predictions.csv), timed from its start to its end, so its start-up (the
  workers' imports and model loads) is counted, and again from its first worker's init() done to its end ("once
  ready", from its summary.json). The job engine's own overhead (queueing, sandbox, MLflow run) is
  bench/job_overhead's and not counted here.

The model is a StandardScaler + LogisticRegression pipeline on 8 float columns, saved as an MLflow model; the rows are
spread over ``--files`` files, ``--mini-batch-size`` files per mini-batch. Prints rows/s for each and the ratios.

    .venv/bin/python bench/batch/run.py [--rows 1000000] [--files 40] [--mini-batch-size 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = [f"x{i}" for i in range(8)]


def make_data(folder: Path, rows: int, files: int) -> Path:
    rng = np.random.default_rng(0)
    data = folder / "data"
    data.mkdir()
    per_file = rows // files
    for index in range(files):
        count = per_file + (rows % files if index == files - 1 else 0)
        pd.DataFrame(rng.normal(size=(count, len(COLUMNS))).round(5), columns=COLUMNS).to_csv(
            data / f"part-{index:04d}.csv", index=False
        )
    return data


def make_model(folder: Path) -> Path:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.normal(size=(5000, len(COLUMNS))), columns=COLUMNS)
    y = (x.x0 + 0.5 * x.x1 - x.x2 + rng.normal(0, 0.5, len(x)) > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    path = folder / "model"
    mlflow.sklearn.save_model(model, str(path))
    return path


def plain(model_path: Path, data: Path, out: Path) -> float:
    """Seconds for the hand-written loop (the model loaded first, not timed: a user's script loads it once too)."""
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(str(model_path))
    began = time.perf_counter()
    with out.open("w") as handle:
        for index, file in enumerate(sorted(data.glob("*.csv"))):
            rows = pd.read_csv(file)
            frame = pd.DataFrame({"file": file.name, "row": range(len(rows)), "prediction": model.predict(rows)})
            frame.to_csv(handle, index=False, header=index == 0)
    return time.perf_counter() - began


def kiln_entry(model_path: Path, data: Path, out: Path, workers: int, mini_batch_size: int) -> tuple[float, float]:
    """Seconds from the entry's start to its end, and from its first worker's init() done to its end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "KILN_"))}
    env["KILN_BATCH_ENGINE"] = "local"
    command = [
        sys.executable, "-m", "kiln.batch.entry", "--model", str(model_path), "--input", str(data), "--output", str(out),
        "--workers", str(workers), "--mini-batch-size", str(mini_batch_size), "--timeout", "3600",
    ]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - began
    return took, float(json.loads((out / "summary.json").read_text())["scoring_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--mini-batch-size", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        data, model = make_data(folder, args.rows, args.files), make_model(folder)
        print(f"{args.rows:,} rows in {args.files} CSV files, {os.cpu_count()} CPUs")
        seconds = {"plain model.predict, 1 process": plain(model, data, folder / "plain.csv")}
        for workers in (1, 2):
            out = folder / f"kiln-{workers}"
            name = f"kiln batch entry, {workers} worker{'s' if workers > 1 else ''}"
            seconds[name], seconds[f"{name}, once ready"] = kiln_entry(model, data, out, workers, args.mini_batch_size)
            written = sum(1 for _ in (out / "predictions.csv").open()) - 1
            assert written == args.rows, f"{written} rows written, expected {args.rows}"
    baseline = args.rows / seconds["plain model.predict, 1 process"]
    for name, took in seconds.items():
        rate = args.rows / took
        print(f"{name:40s} {took:8.2f} s {rate:12,.0f} rows/s  {rate / baseline:5.2f}x plain")
    for suffix in ("", ", once ready"):
        one, two = (seconds[f"kiln batch entry, {n}{suffix}"] for n in ("1 worker", "2 workers"))
        print(f"scaling 1 -> 2 workers{suffix}: {one / two:.2f}x")


if __name__ == "__main__":
    main()
