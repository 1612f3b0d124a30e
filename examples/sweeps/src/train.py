"""One trial of the sweep: ridge regression on scikit-learn's bundled diabetes data with the sweep's alpha and
scaler, logging its test RMSE (the sweep's primary metric) to the trial's MLflow run."""

import argparse

import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "none": None}

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("--scaler", choices=SCALERS, required=True)
args = parser.parse_args()

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
scaler = SCALERS[args.scaler]
model = make_pipeline(*([scaler()] if scaler else []), Ridge(alpha=args.alpha)).fit(X_train, y_train)
rmse = root_mean_squared_error(y_test, model.predict(X_test))
mlflow.log_params({"alpha": args.alpha, "scaler": args.scaler})
mlflow.log_metric("test_rmse", rmse)
print(f"alpha {args.alpha:.4g}, scaler {args.scaler}: test_rmse {rmse:.3f}")
