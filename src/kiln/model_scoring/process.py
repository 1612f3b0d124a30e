"""The process of a scored comparison: ``python -m kiln.model_scoring.process --model candidate=DIR
--model baseline=DIR --data DIR --label COLUMN --metric accuracy …``.

The workspace server starts it (in the job sandbox where one works) with the versions' MLflow model folders and
the data asset's files in place: the models' own code runs here, never in the server. It reads the rows with the
row reader of ``kiln model convert --data`` (CSV or Parquet files: ``kiln.conversion.job.read_rows``), holds the
label column out, has each version predict on the rest through MLflow's pyfunc, and prints one JSON line:
``{"rows": N, "metrics": {"candidate": {...}, "baseline": {...}}}``, or ``{"error": MESSAGE}`` (exit 2) for a
problem with the request (no such column, too many rows, an answer per row missing, a metric that does not fit)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kiln.errors import KilnError

MAX_ROWS = 100_000  # a gate scores a held-out sample; bigger evaluations are jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiln.model_scoring.process", description=__doc__)
    parser.add_argument("--model", action="append", required=True, help="ROLE=DIR, an MLflow model folder")
    parser.add_argument("--data", type=Path, required=True, help="the data asset's file or folder (CSV or Parquet)")
    parser.add_argument("--label", required=True, help="the column of true answers")
    parser.add_argument("--metric", action="append", required=True)
    parser.add_argument("--max-rows", type=int, default=MAX_ROWS)
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")  # the models' own code runs here
    try:
        models = dict(item.split("=", 1) for item in args.model)
        rows, labels = labelled_rows(args.data, args.label, args.max_rows)
        found = {role: score_model(Path(folder), rows, labels, args.metric) for role, folder in models.items()}
    except KilnError as exc:
        print(json.dumps({"error": exc.message}), flush=True)
        return 2
    print(json.dumps({"rows": len(rows), "metrics": found}), flush=True)
    return 0


def labelled_rows(data: Path, label: str, max_rows: int = MAX_ROWS) -> tuple[Any, Any]:
    """The data's rows without the label column, and that column."""
    from kiln.conversion.job import read_rows

    rows = read_rows(data)
    if label not in rows.columns:
        columns = ", ".join(map(str, rows.columns[:30]))
        raise KilnError(f"label: the data has no column '{label}' (its columns: {columns}); name its true answers")
    if len(rows) > max_rows:
        raise KilnError(
            f"data: {len(rows)} rows; a scored comparison reads at most {max_rows}: register a held-out sample"
        )
    if not len(rows):
        raise KilnError("data: the data asset has no rows to score")
    labels = rows[label]
    if labels.isna().any():
        raise KilnError(f"label: column '{label}' has {int(labels.isna().sum())} empty values; every row needs one")
    return rows.drop(columns=[label]), labels.to_numpy()


def score_model(folder: Path, rows: Any, labels: Any, metrics: list[str]) -> dict[str, float]:
    """Each of ``metrics`` for the MLflow model at ``folder`` predicting on ``rows``."""
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd

    from kiln.model_scoring.metrics import score

    try:
        model = mlflow.pyfunc.load_model(str(folder))
        answers = model.predict(rows)
    except KilnError:
        raise
    except Exception as exc:  # the model's own failure, told to the caller without a traceback
        raise KilnError(
            f"model: {folder.name} could not predict on the data's rows: {type(exc).__name__}: {exc}"
        ) from None
    if isinstance(answers, pd.DataFrame):
        if answers.shape[1] != 1:
            raise KilnError(f"model: {folder.name} answers {answers.shape[1]} columns per row; a gate compares one")
        answers = answers.iloc[:, 0]
    answers = np.asarray(answers)
    if answers.ndim > 1:
        if answers.shape[1:] != (1,) * (answers.ndim - 1):
            raise KilnError(f"model: {folder.name} answers {answers.shape[1:]} values per row; a gate compares one")
        answers = answers.reshape(len(answers))
    return {metric: score(metric, labels, answers) for metric in metrics}


if __name__ == "__main__":
    sys.exit(main())
