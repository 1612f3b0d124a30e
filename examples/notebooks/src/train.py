"""The quickstart's training script: a logistic regression on scikit-learn's bundled iris data, its metrics
tracked in the job's MLflow run and the model saved (with its signature) as the job's ``model`` output, which
registers it."""

import argparse

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.integrations import sklearn as kiln_sklearn

parser = argparse.ArgumentParser()
parser.add_argument("--C", type=float, default=1.0)
parser.add_argument("--model", required=True)
args = parser.parse_args()

kiln_sklearn.autolog(log_models=False)  # params and training metrics; the model is saved below
X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
print(f"training on {len(X_train)} rows, testing on {len(X_test)}")
model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=500)).fit(X_train, y_train)
accuracy = accuracy_score(y_test, model.predict(X_test))
mlflow.log_metric("test_accuracy", accuracy)
print(f"test_accuracy {accuracy:.4f}")
kiln_sklearn.save_model(model, args.model, X_test)
