"""Converters to ONNX, one module per family of source flavors, each with ``convert(source, opset) -> Converted``.

- ``sklearn``: scikit-learn estimators and Pipelines (scalers, encoders, ColumnTransformer…) through skl2onnx,
  classifiers with their probabilities as a tensor (no ZipMap); LightGBM and XGBoost estimators inside them too;
- ``boosting``: models saved with MLflow's ``lightgbm``/``xgboost`` flavors, through onnxmltools;
- ``torch``: PyTorch modules through ``torch.onnx.export`` (the dynamo exporter), the batch axis dynamic;
- ``keras``: Keras 3 models through Keras' own ONNX export.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.conversion.source import SourceModel

EXTRA = "onnx"
# flavor -> the module that converts it
BY_FLAVOR = {
    "sklearn": "kiln.conversion.converters.sklearn",
    "lightgbm": "kiln.conversion.converters.boosting",
    "xgboost": "kiln.conversion.converters.boosting",
    "pytorch": "kiln.conversion.converters.torch",
    "keras": "kiln.conversion.converters.keras",
    "tensorflow": "kiln.conversion.converters.keras",
}


@dataclass
class Predictions:
    """What one model said about a batch of rows: labels (classifiers) and scores (probabilities, values)."""

    labels: Any = None
    scores: Any = None


@dataclass
class Converted:
    """An ONNX graph and how to compare it with its source: ``predict_source`` runs the source model on rows,
    ``labels_output``/``scores_output`` say which of the graph's outputs hold the labels and the scores."""

    onnx: Any  # onnx.ModelProto
    converters: dict[str, str]
    predict_source: Callable[[Any], Predictions]
    labels_output: int | None = None
    scores_output: int | None = 0
    notes: list[str] = field(default_factory=list)


def convert(source: SourceModel, opset: int | None) -> Converted:
    """The converter of the source's flavor, run."""
    module = importlib.import_module(BY_FLAVOR[source.flavor])
    converted: Converted = module.convert(source, opset)
    return converted


def versions(*names: str) -> dict[str, str]:
    """``{package: version}`` of the packages a conversion used (each imported already)."""
    found = {}
    for name in names:
        module = importlib.import_module(name)
        found[name] = str(getattr(module, "__version__", "?"))
    return found
