"""Regression on scikit-learn's bundled diabetes data: scaled ridge regression, registered with its signature."""

import argparse

import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.integrations import sklearn as kiln_sklearn

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=1.0)
parser.add_argument("--model", required=True)
args = parser.parse_args()

kiln_sklearn.autolog(log_models=False)  # params and training metrics; the model is saved below
X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
model = make_pipeline(StandardScaler(), Ridge(alpha=args.alpha)).fit(X_train, y_train)

predicted = model.predict(X_test)
metrics = {
    "test_rmse": root_mean_squared_error(y_test, predicted),
    "test_mae": mean_absolute_error(y_test, predicted),
    "test_r2": r2_score(y_test, predicted),
}
mlflow.log_metrics(metrics)
print(", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
kiln_sklearn.save_model(model, args.model, X_test)
