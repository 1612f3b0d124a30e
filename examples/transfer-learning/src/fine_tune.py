"""Fine-tune for a related task from few labels: is the digit odd or even? The registered
base network's hidden layer, frozen, feeds a new head trained on only a few labelled images
(of the half the base never saw). A head trained on raw pixels from the same images is the
comparison, logged beside it."""

import argparse
from pathlib import Path

import mlflow
from features import FrozenHiddenLayer
from mlflow.models import infer_signature
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True, help="the registered base model (an MLflow model folder)")
parser.add_argument("--labels", type=int, default=40, help="how many labelled images the new task has")
parser.add_argument("--model", required=True)
args = parser.parse_args()

base = mlflow.sklearn.load_model(args.base)
X, y = load_digits(return_X_y=True)
_, X_task, _, y_digit = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)  # the half the base never saw
odd = y_digit % 2
X_train, X_test, y_train, y_test = train_test_split(X_task, odd, train_size=args.labels, random_state=0, stratify=odd)

tuned = Pipeline([("base", FrozenHiddenLayer(base)), ("head", LogisticRegression(max_iter=3000))]).fit(X_train, y_train)
scratch = LogisticRegression(max_iter=3000).fit(X_train, y_train)
metrics = {"finetuned_test_accuracy": tuned.score(X_test, y_test), "from_scratch_test_accuracy": scratch.score(X_test, y_test)}
mlflow.log_params({"labels": args.labels, "task": "odd or even"})
mlflow.log_metrics(metrics)
for name, value in metrics.items():
    print(f"{name}: {value:.3f}")

mlflow.sklearn.save_model(
    tuned, args.model, serialization_format="cloudpickle", signature=infer_signature(X_test, tuned.predict(X_test)),
    input_example=X_test[:2], code_paths=[str(Path(__file__).with_name("features.py"))],
)
