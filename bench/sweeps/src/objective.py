"""One trial of bench/sweeps: a quick objective with its optimum at (0.3, -0.2), logged to MLflow (the run is
the kiln trial's, or the one the direct run made) and printed (what the direct Optuna loop reads)."""

import sys

import mlflow

x, y = float(sys.argv[1]), float(sys.argv[2])
loss = (x - 0.3) ** 2 + (y + 0.2) ** 2
mlflow.log_metric("loss", loss)
print(f"loss={loss!r}")
