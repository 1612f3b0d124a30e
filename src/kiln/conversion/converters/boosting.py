"""LightGBM and XGBoost through onnxmltools: their scikit-learn estimators join skl2onnx's registry (so a
Pipeline ending in an LGBMClassifier converts as a whole), and models saved with MLflow's ``lightgbm`` or
``xgboost`` flavor convert here. Each family converts only where its package is installed."""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

from kiln.conversion.converters import EXTRA, Converted, Predictions, versions
from kiln.conversion.source import SourceModel
from kiln.errors import UnsupportedModel
from kiln.extras import require_extra

NEEDED_BY = "converting a LightGBM or XGBoost model to ONNX"
_registered: list[str] = []
_lock = threading.Lock()


def register_with_skl2onnx() -> list[str]:
    """Teach skl2onnx LightGBM's and XGBoost's estimators (those installed), once; the packages this adds."""
    with _lock:
        if _registered:
            return list(_registered[1:])
        _registered.append("done")
        if importlib.util.find_spec("onnxmltools") is None:
            return []
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import (
            calculate_linear_classifier_output_shapes,
            calculate_linear_regressor_output_shapes,
        )

        options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
        if importlib.util.find_spec("lightgbm") is not None:
            from lightgbm import LGBMClassifier, LGBMRegressor
            from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

            update_registered_converter(LGBMClassifier, "LgbmClassifier", calculate_linear_classifier_output_shapes,
                                        convert_lightgbm, options=options)  # fmt: skip
            update_registered_converter(LGBMRegressor, "LgbmRegressor", calculate_linear_regressor_output_shapes,
                                        convert_lightgbm)  # fmt: skip
            _registered.extend(["onnxmltools", "lightgbm"])
        if importlib.util.find_spec("xgboost") is not None:
            from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
            from xgboost import XGBClassifier, XGBRegressor

            update_registered_converter(XGBClassifier, "XGBoostXGBClassifier",
                                        calculate_linear_classifier_output_shapes, convert_xgboost,
                                        options=options)  # fmt: skip
            update_registered_converter(XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes,
                                        convert_xgboost)  # fmt: skip
            _registered.extend(name for name in ("onnxmltools", "xgboost") if name not in _registered)
        return list(_registered[1:])


def convert(source: SourceModel, opset: int | None) -> Converted:
    """A model saved with ``mlflow.lightgbm`` or ``mlflow.xgboost``: a scikit-learn estimator converts through
    skl2onnx's registry; a LightGBM Booster through onnxmltools directly."""
    require_extra(EXTRA, "onnxmltools", needed_by=NEEDED_BY)
    package = source.flavor  # lightgbm or xgboost: the model's own package, needed to load it
    if importlib.util.find_spec(package) is None:
        raise UnsupportedModel(
            f"model: it is a {package} model and {package} is not installed where it is converted; install "
            f"{package} in the job's environment (kiln converts LightGBM and XGBoost models where their package is)"
        )
    flavor = importlib.import_module(f"mlflow.{package}")
    model = flavor.load_model(str(source.folder))
    if hasattr(model, "predict") and hasattr(
        model, "get_params"
    ):  # the scikit-learn API: LGBMClassifier, XGBRegressor…
        from kiln.conversion.converters.sklearn import convert_estimator

        return convert_estimator(model, source, opset)
    if package == "lightgbm":
        return _convert_lightgbm_booster(model, source, opset)
    raise UnsupportedModel(
        "model: an XGBoost Booster saved with mlflow.xgboost; kiln converts XGBoost's scikit-learn estimators "
        "(XGBClassifier, XGBRegressor): save one of those instead"
    )


def _convert_lightgbm_booster(booster: Any, source: SourceModel, opset: int | None) -> Converted:
    import numpy as np
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    width = len(source.columns or []) or int(np.prod([max(d, 1) for d in (source.tensor_shape or (-1, 1))[1:]]))
    objective = str(booster.dump_model().get("objective", ""))
    classifier = objective.startswith(("binary", "multiclass"))
    try:
        onnx_model = onnxmltools.convert_lightgbm(
            booster, initial_types=[("input", FloatTensorType([None, width]))], target_opset=opset, zipmap=False
        )
    except Exception as exc:
        raise UnsupportedModel(
            f"model: onnxmltools cannot convert this LightGBM Booster ({objective}): {exc}"
        ) from None

    def predict_source(rows: Any) -> Predictions:
        values = np.asarray(booster.predict(rows))
        if not classifier:
            return Predictions(scores=values.reshape(len(values), -1))
        probabilities = np.column_stack([1 - values, values]) if values.ndim == 1 else values
        return Predictions(labels=probabilities.argmax(axis=1), scores=probabilities)

    used = versions("onnxmltools", "onnx", "lightgbm")
    if classifier:
        return Converted(onnx_model, used, predict_source, labels_output=0, scores_output=1)
    return Converted(onnx_model, used, predict_source, labels_output=None, scores_output=0)
