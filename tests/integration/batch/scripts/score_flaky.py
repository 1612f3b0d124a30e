"""A test's scoring script: on request a chosen file that raises (FAIL_ON) or a pause per file (DELAY seconds), so
that a test can kill a worker or cancel mid-job."""

import os
import time
from pathlib import Path

import mlflow.sklearn
import pandas as pd

model = None


def init():
    global model
    model = mlflow.sklearn.load_model(os.environ["AZUREML_MODEL_DIR"])


def run(mini_batch):
    frames = []
    for path in mini_batch:
        if Path(path).name == os.environ.get("FAIL_ON"):
            raise ValueError(f"cannot score {Path(path).name}: chosen to fail")
        time.sleep(float(os.environ.get("DELAY", "0")))
        data = pd.read_csv(path)
        frames.append(
            pd.DataFrame({"file": Path(path).name, "row": range(len(data)), "prediction": model.predict(data)})
        )
    return pd.concat(frames, ignore_index=True)
