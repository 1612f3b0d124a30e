"""Fit a logistic regression on train.csv; write it with pickle to the model output."""

import argparse
import pickle
from pathlib import Path

import mlflow
import pandas as pd
from sklearn.linear_model import LogisticRegression

parser = argparse.ArgumentParser()
parser.add_argument("--data", type=Path, required=True)
parser.add_argument("--max-iter", type=int, default=100)
parser.add_argument("--model", type=Path, required=True)
args = parser.parse_args()

train = pd.read_csv(args.data / "train.csv")
model = LogisticRegression(max_iter=args.max_iter).fit(train.drop(columns="target"), train["target"])
accuracy = model.score(train.drop(columns="target"), train["target"])
mlflow.log_metric("train_accuracy", accuracy)
args.model.mkdir(parents=True, exist_ok=True)
(args.model / "model.pkl").write_bytes(pickle.dumps(model))
print(f"train accuracy: {accuracy:.3f}")
