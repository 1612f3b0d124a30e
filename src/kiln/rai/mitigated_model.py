"""A mitigated model as an MLflow pyfunc model: what kiln registers and an online endpoint serves.

Its signature is the original model's inputs, plus the sensitive column when the mitigation needs it at
predict time (``threshold_optimizer``); it answers one label per row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from kiln.integrations.tensorflow import pinned_requirements


class MitigatedPyfunc(mlflow.pyfunc.PythonModel):
    """An MLflow ``PythonModel`` around a :class:`kiln.rai.mitigation.MitigatedClassifier` (pickled with it;
    loading it needs kiln, fairlearn and scikit-learn, which the requirements name)."""

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return self.classifier.predict(pd.DataFrame(model_input))


def save(classifier: Any, path: str | Path, example: pd.DataFrame) -> None:
    """Save ``classifier`` at ``path`` (the job's output ``mitigated_model``), signed from ``example``."""
    from mlflow.models import infer_signature

    head = example[classifier.input_columns()].head(5)
    signature = infer_signature(head, classifier.predict(head))
    Path(path).mkdir(parents=True, exist_ok=True)
    mlflow.pyfunc.save_model(
        str(path), python_model=MitigatedPyfunc(classifier), signature=signature, input_example=head,
        pip_requirements=pinned_requirements("mlflow", "numpy", "pandas", "scikit-learn", "fairlearn", "cloudpickle"),
    )  # fmt: skip
