"""A logistic regression on scikit-learn's bundled iris data: test metrics to MLflow, the model as an output."""

import argparse

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.integrations import sklearn as kiln_sklearn

parser = argparse.ArgumentParser()
parser.add_argument("--C", type=float, default=1.0)
parser.add_argument("--model", required=True)
args = parser.parse_args()

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=7, stratify=y)
model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=500)).fit(X_train, y_train)
predictions = model.predict(X_test)
metrics = {
    "test_accuracy": accuracy_score(y_test, predictions),
    "test_f1_macro": f1_score(y_test, predictions, average="macro"),
}
mlflow.log_param("C", args.C)
mlflow.log_metrics(metrics)
print(", ".join(f"{name} {value:.4f}" for name, value in metrics.items()))
kiln_sklearn.save_model(model, args.model, X_test)
