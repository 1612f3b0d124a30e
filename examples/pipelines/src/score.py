"""Score the model on test.csv: the accuracy, logged to MLflow and written to the report output."""

import argparse
import json
import pickle
from pathlib import Path

import mlflow
import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("--data", type=Path, required=True)
parser.add_argument("--model", type=Path, required=True)
parser.add_argument("--report", type=Path, required=True)
args = parser.parse_args()

test = pd.read_csv(args.data / "test.csv")
model = pickle.loads((args.model / "model.pkl").read_bytes())
accuracy = float(model.score(test.drop(columns="target"), test["target"]))
mlflow.log_metric("test_accuracy", accuracy)
args.report.mkdir(parents=True, exist_ok=True)
(args.report / "report.json").write_text(json.dumps({"test_accuracy": accuracy, "rows": len(test)}))
print(f"test accuracy: {accuracy:.3f}")
