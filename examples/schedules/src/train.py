"""A small nightly training run: a ridge regression on scikit-learn's diabetes data, its R² logged to MLflow."""

import argparse

import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=1.0)
args = parser.parse_args()

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
model = Ridge(alpha=args.alpha).fit(X_train, y_train)
mlflow.log_param("alpha", args.alpha)
mlflow.log_metric("test_r2", model.score(X_test, y_test))
print(f"test R2: {model.score(X_test, y_test):.3f}")
