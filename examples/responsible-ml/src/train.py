"""Train the credit model the responsible AI job analyses: a logistic regression on the applicants' features.

The sensitive columns (sex, age_group) are not model inputs; the labels carry the injected disparity, which the
model learns through income (see ../generate_data.py). Saved with its signature, so the analysis knows the
columns it reads; registered as `credit` when the job completes."""

import argparse
from pathlib import Path

import mlflow
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.integrations.sklearn import save_model
from kiln.integrations.tensorflow import pinned_requirements

SENSITIVE = ("sex", "age_group")
TARGET = "default"

parser = argparse.ArgumentParser()
parser.add_argument("--train", type=Path, required=True)
parser.add_argument("--model", type=Path, required=True)
args = parser.parse_args()

table = pd.read_csv(args.train)
features = table.drop(columns=[TARGET, *SENSITIVE])
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, table[TARGET])
accuracy = model.score(features, table[TARGET])
mlflow.log_metric("train_accuracy", accuracy)
print(f"{len(table)} rows, {features.shape[1]} features, training accuracy {accuracy:.3f}")
save_model(
    model, args.model, features, pip_requirements=pinned_requirements("mlflow", "numpy", "pandas", "scikit-learn")
)
