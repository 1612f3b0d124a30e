"""Train a small heart-disease classifier on generated data and write new, unlabelled patients as CSV files to score.

The data are made up (seeded): a risk that grows with age, cholesterol and blood pressure. The model is a scikit-learn
pipeline saved as an MLflow model (registered by the job as ``heart-classifier``); the files to score go to the
``data`` output, one CSV per clinic."""

from __future__ import annotations

import argparse
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["age", "cholesterol", "blood_pressure", "max_heart_rate"]


def patients(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "age": rng.integers(29, 80, n).astype(float),
        "cholesterol": rng.normal(240, 45, n).round(1),
        "blood_pressure": rng.normal(130, 17, n).round(1),
        "max_heart_rate": rng.normal(150, 22, n).round(1),
    })  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="where the MLflow model is saved")
    parser.add_argument("--data", required=True, help="where the CSV files to score are written")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rows", type=int, default=250, help="rows per file")
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    train = patients(rng, 2000)
    risk = 0.06 * (train.age - 55) + 0.02 * (train.cholesterol - 240) + 0.03 * (train.blood_pressure - 130)
    label = (risk - 0.02 * (train.max_heart_rate - 150) + rng.normal(0, 1, len(train)) > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(train[FEATURES], label)
    mlflow.log_metric("train_accuracy", float(model.score(train[FEATURES], label)))
    mlflow.sklearn.save_model(model, args.model, input_example=train[FEATURES].head(3))

    folder = Path(args.data)
    folder.mkdir(parents=True, exist_ok=True)
    for clinic in range(args.files):
        patients(rng, args.rows).to_csv(folder / f"clinic-{clinic:02d}.csv", index=False)
    print(f"model saved; {args.files} files of {args.rows} patients written to score")


if __name__ == "__main__":
    main()
