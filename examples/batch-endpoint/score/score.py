"""A batch scoring script, as Azure ML's batch deployments run them: ``init()`` once per worker, ``run(mini_batch)``
for each mini-batch (a list of file paths) returning one row per prediction."""

import os
from pathlib import Path

import mlflow
import pandas as pd

model = None


def init():
    global model
    model = mlflow.sklearn.load_model(os.environ["AZUREML_MODEL_DIR"])


def run(mini_batch):
    frames = []
    for path in mini_batch:
        patients = pd.read_csv(path)
        frames.append(pd.DataFrame({
            "file": Path(path).name,
            "row": range(len(patients)),
            "prediction": model.predict(patients),
            "probability": model.predict_proba(patients)[:, 1].round(6),
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)
