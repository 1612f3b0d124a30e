"""scikit-learn in a kiln job: autologging switched on, and models saved with a signature and
an input example, so that an online endpoint can check requests against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def autolog(**options: Any) -> None:
    """MLflow's scikit-learn autologging with input examples and signatures on."""
    import mlflow

    mlflow.sklearn.autolog(**{"log_input_examples": True, "log_model_signatures": True, **options})


def save_model(model: Any, path: str | Path, example: Any, rows: int = 5, **options: Any) -> None:
    """Save ``model`` as an MLflow model at ``path`` (e.g. a job's ``${{outputs.model}}``), with
    the signature inferred from ``example`` and the model's predictions on it."""
    import mlflow
    from mlflow.models import infer_signature

    head = example[:rows] if not hasattr(example, "head") else example.head(rows)
    signature = infer_signature(head, model.predict(head))
    mlflow.sklearn.save_model(model, str(path), signature=signature, input_example=head, **options)
