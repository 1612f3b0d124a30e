"""Train a logistic regression on iris; MLflow autologging records params, metrics and the model."""

import argparse
import json
from pathlib import Path

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

parser = argparse.ArgumentParser()
parser.add_argument("--C", type=float, default=1.0)
parser.add_argument("--test-size", type=float, default=0.25)
parser.add_argument("--report", type=Path, required=True)
args = parser.parse_args()

mlflow.sklearn.autolog(log_input_examples=True)

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=args.test_size, random_state=42, stratify=y)
print(f"training on {len(X_train)} rows, testing on {len(X_test)}")

model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=500))
model.fit(X_train, y_train)

predictions = model.predict(X_test)
test_metrics = {
    "test_accuracy": accuracy_score(y_test, predictions),
    "test_f1_macro": f1_score(y_test, predictions, average="macro"),
}
mlflow.log_metrics(test_metrics)
for name, value in test_metrics.items():
    print(f"{name}: {value:.4f}")

args.report.mkdir(parents=True, exist_ok=True)
(args.report / "metrics.json").write_text(json.dumps(test_metrics, indent=2))
Path("outputs").mkdir(exist_ok=True)
Path("outputs/classes.txt").write_text("\n".join(load_iris().target_names))
print("done")
