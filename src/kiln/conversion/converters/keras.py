"""Keras 3 through Keras' own ONNX export (``model.export(path, format="onnx")``).

Keras exports ONNX through torch.onnx with the ``torch`` backend and through tf2onnx with the ``tensorflow``
one. tf2onnx's ``from_keras`` does not work with Keras 3 and tf2onnx is not part of the ``onnx`` extra, so a
conversion job runs Keras on the torch backend (``KERAS_BACKEND=torch``, set by ``kiln.conversion.job``): a
``.keras`` file holds weights and configuration, not backend code, and loads on either backend.
TensorFlow SavedModels (``mlflow.tensorflow``, and Keras models saved as their exported graph) need tf2onnx."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from kiln.conversion.converters import EXTRA, Converted, Predictions, versions
from kiln.conversion.source import SourceModel
from kiln.errors import UnsupportedModel
from kiln.extras import require_extra

NEEDED_BY = "converting a Keras model to ONNX"
TF2ONNX_VERSIONS = (
    "tf2onnx 1.16 (the latest release) is tested with TensorFlow 2.9-2.15 and Keras 2; it does not convert Keras 3 "
    "models (tf2onnx.convert.from_keras fails on them)"
)


def convert(source: SourceModel, opset: int | None) -> Converted:
    import importlib.util

    require_extra(EXTRA, "onnx", needed_by=NEEDED_BY)
    if source.flavor == "tensorflow" or source.flavor_config.get("save_exported_model"):
        what = (
            "a TensorFlow SavedModel" if source.flavor == "tensorflow" else "a Keras model saved as its exported graph"
        )
        raise UnsupportedModel(
            f"model: {what}: it converts only through tf2onnx, which "
            f"{'is installed but' if importlib.util.find_spec('tf2onnx') else 'is not installed and'} kiln does not "
            f"use: {TF2ONNX_VERSIONS}. Supported: Keras 3 models saved as .keras files (mlflow.keras.save_model, "
            "kiln.integrations.keras.save_model without exported=True), which kiln converts with Keras' own export"
        )
    keras = require_extra("tensorflow", "keras", needed_by=NEEDED_BY)  # the extra that brings Keras
    if keras.backend.backend() == "tensorflow" and importlib.util.find_spec("tf2onnx") is None:
        raise UnsupportedModel(
            "model: Keras runs on the tensorflow backend here, whose ONNX export needs tf2onnx (not installed; "
            f"{TF2ONNX_VERSIONS}); run the conversion with KERAS_BACKEND=torch (a kiln conversion job does)"
        )
    import mlflow.keras
    import numpy as np

    model = mlflow.keras.load_model(str(source.folder))
    example = source.example if source.example is not None else None
    if example is not None:
        model.predict(example[:2], verbose=0)  # Keras exports only a model that has been called
    with tempfile.TemporaryDirectory(prefix="kiln-keras-onnx-") as scratch:
        path = Path(scratch) / "model.onnx"
        try:
            model.export(str(path), format="onnx", verbose=False, **({"opset_version": opset} if opset else {}))
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UnsupportedModel(
                f"model: Keras {keras.__version__} ({keras.backend.backend()} backend) cannot export "
                f"{type(model).__name__} to ONNX: {detail[:400]}. Keras' export supports its built-in layers; "
                "custom layers need an ONNX translation of every operation they call"
            ) from None
        import onnx

        onnx_model = onnx.load(str(path))

    def predict_source(rows: Any) -> Predictions:
        values = np.asarray(model.predict(rows, verbose=0))
        return Predictions(scores=values.reshape(len(values), -1))

    used = versions("keras", "onnx", *(["torch"] if keras.backend.backend() == "torch" else []))
    return Converted(onnx_model, used, predict_source)
