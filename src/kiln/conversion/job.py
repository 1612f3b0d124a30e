"""The process of a ``model_conversion`` job: ``python -m kiln.conversion.job --model DIR --output DIR …``.

It runs in the job's sandbox, with the job's token: it loads the source model (its code runs here, never in
the workspace server), converts it, proves parity, prints the report to the job's log and logs it to the
job's MLflow run. The converted model is written to the job's output only when parity holds; the workspace
registers it when the job completes. A parity failure exits non-zero with the report: nothing is registered."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from kiln.errors import KilnError, ParityFailed

DATA_SUFFIXES = (".csv", ".parquet", ".pq")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiln.conversion.job", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="the source MLflow model folder")
    parser.add_argument("--output", type=Path, required=True, help="where the converted MLflow model goes")
    parser.add_argument("--source", required=True, help="NAME:VERSION of the source, recorded with the result")
    parser.add_argument("--tolerance", type=float, required=True)
    parser.add_argument("--opset", type=int)
    parser.add_argument("--data", type=Path, help="a data asset's file or folder (CSV or Parquet) for the proof")
    args = parser.parse_args(argv)
    # the model's own code runs in this sandboxed process: that is what the job is for
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    if importlib.util.find_spec("tf2onnx") is None:
        os.environ.setdefault("KERAS_BACKEND", "torch")  # see kiln.conversion.converters.keras
    print(
        f"converting {args.source} to ONNX (tolerance {args.tolerance:g}, opset {args.opset or 'default'})", flush=True
    )
    try:
        extra_rows = read_rows(args.data) if args.data else None
        if extra_rows is not None:
            print(f"parity rows from the data asset: {len(extra_rows)}", flush=True)
        from kiln.conversion.convert import convert_to_onnx

        report = convert_to_onnx(
            args.model, args.output, tolerance=args.tolerance,
            opset=args.opset, extra_rows=extra_rows, converted_from=args.source,
        )  # fmt: skip
    except ParityFailed as exc:
        print(f"parity report: {json.dumps(exc.report.as_dict() if exc.report else {}, sort_keys=True)}", flush=True)
        if exc.report is not None:
            _log_report(exc.report.as_dict())
        print(f"error: {exc.message}; nothing is registered", file=sys.stderr, flush=True)
        return ParityFailed.exit_code
    except KilnError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return exc.exit_code
    print(f"parity report: {json.dumps(report.as_dict(), sort_keys=True)}", flush=True)
    print(f"parity: {report.summary()}", flush=True)
    _log_report(report.as_dict())
    print(
        f"converted {args.source}: opset {report.opset}; the workspace registers it when the job completes", flush=True
    )
    return 0


def read_rows(path: Path) -> Any:
    """A data asset's rows: a CSV or Parquet file, or every such file of a folder (an MLTable's too)."""
    import pandas as pd

    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix.lower() in DATA_SUFFIXES)
    if not files:
        raise KilnError(f"data: {path.name} holds no CSV or Parquet file to check parity on")
    frames = [pd.read_csv(f) if f.suffix.lower() == ".csv" else pd.read_parquet(f) for f in files]
    return pd.concat(frames, ignore_index=True)


def _log_report(report: dict[str, Any]) -> None:
    """The report on the job's MLflow run: as a file, and its numbers as metrics."""
    if not os.environ.get("MLFLOW_RUN_ID") and not os.environ.get("MLFLOW_TRACKING_URI"):
        return  # run by hand, outside a job
    import mlflow

    try:
        mlflow.log_dict(report, "conversion/parity.json")
        metrics = {"parity_rows_checked": report["rows_checked"], "parity_max_abs_diff": report["max_abs_diff"]}
        if report.get("label_agreement") is not None:
            metrics["parity_label_agreement"] = report["label_agreement"]
        mlflow.log_metrics(metrics)
        mlflow.log_params({"opset": report["opset"], "tolerance": report["tolerance"]})
    except Exception as exc:  # the report is in the log either way
        print(f"kiln: could not log the parity report to the job's run: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
