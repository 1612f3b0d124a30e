"""Train on a data asset that the job reads read-only (ro_mount) as an MLTable."""

import argparse

import mlflow
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from kiln import mltable

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True, help="the MLTable folder of the input")
parser.add_argument("--model", required=True, help="where to save the trained model (an MLflow model folder)")
args = parser.parse_args()

frame = mltable.load(args.data)
features, labels = frame.drop(columns="species"), frame["species"]
accuracy = cross_val_score(LogisticRegression(max_iter=500), features, labels, cv=5).mean()
mlflow.log_metric("rows", len(frame))
mlflow.log_metric("cv_accuracy", accuracy)
print(f"{len(frame)} rows, cross-validated accuracy {accuracy:.3f}")

model = LogisticRegression(max_iter=500).fit(features, labels)
mlflow.sklearn.save_model(model, args.model, input_example=features.head(2))
