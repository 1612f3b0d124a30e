"""scikit-learn through skl2onnx: estimators and Pipelines (scalers, encoders, ColumnTransformer…).

Inputs come from the signature: all-numeric columns become one float tensor ``[batch, n_columns]`` (what
MLflow's ONNX pyfunc feeds a DataFrame into); a model with a ColumnTransformer, or with string columns, gets
one ``[batch, 1]`` input per column, named as the column, as ColumnTransformer selects them by name.
Classifiers answer their labels and their probabilities as a tensor (``zipmap`` off)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.conversion.converters import EXTRA, Converted, Predictions, versions
from kiln.conversion.source import NUMERIC_TYPES, SourceModel
from kiln.errors import UnsupportedModel
from kiln.extras import require_extra

if TYPE_CHECKING:
    import numpy as np

NEEDED_BY = "converting a scikit-learn model to ONNX"


def convert(source: SourceModel, opset: int | None) -> Converted:
    import mlflow.sklearn

    require_extra(EXTRA, "skl2onnx", needed_by=NEEDED_BY)
    model = mlflow.sklearn.load_model(str(source.folder))
    return convert_estimator(model, source, opset)


def convert_estimator(model: Any, source: SourceModel, opset: int | None) -> Converted:
    """A fitted estimator (from any flavor that holds one) as ONNX."""
    skl2onnx = require_extra(EXTRA, "skl2onnx", needed_by=NEEDED_BY)
    from sklearn.base import is_classifier

    from kiln.conversion.converters.boosting import register_with_skl2onnx

    boosting = [name for name in register_with_skl2onnx() if name in _packages_in(model)]
    used = ["skl2onnx", "onnx", "sklearn", *(["onnxmltools", *boosting] if boosting else [])]
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if not hasattr(model, "predict"):
        raise UnsupportedModel(
            f"model: {type(model).__name__} has no predict (a transformer alone); kiln converts estimators that "
            "predict: classifiers, regressors, clusterers, and Pipelines that end in one"
        )
    classifier = is_classifier(model)
    with_probabilities = classifier and hasattr(model, "predict_proba")
    options = {id(final): {"zipmap": False}} if classifier else None
    target_opset: int | dict[str, int] | None = opset
    if boosting:  # onnxmltools writes LightGBM's and XGBoost's trees with ai.onnx.ml 3
        target_opset = {"": opset or skl2onnx.get_latest_tested_opset_version(), "ai.onnx.ml": 3}
    try:
        onnx_model = skl2onnx.convert_sklearn(
            model, initial_types=_initial_types(model, source), target_opset=target_opset, options=options
        )
    except Exception as exc:  # skl2onnx says what it met in many exception types
        raise UnsupportedModel(_unsupported(model, exc, skl2onnx)) from None

    def predict_source(rows: Any) -> Predictions:
        if classifier:
            return Predictions(
                labels=model.predict(rows), scores=model.predict_proba(rows) if with_probabilities else None
            )
        return Predictions(scores=_as_2d(model.predict(rows)))

    if classifier:
        return Converted(onnx_model, versions(*used), predict_source, labels_output=0,
                         scores_output=1 if with_probabilities else None)  # fmt: skip
    return Converted(onnx_model, versions(*used), predict_source, labels_output=None, scores_output=0)


def _initial_types(model: Any, source: SourceModel) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    if source.is_tensor:
        width = 1
        for size in (source.tensor_shape or (-1, 1))[1:]:
            width *= max(size, 1)
        return [(source.tensor_name or "input", FloatTensorType([None, width]))]
    columns = source.columns or []
    if all(c.type in NUMERIC_TYPES for c in columns) and not _has_column_transformer(model):
        return [("input", FloatTensorType([None, len(columns)]))]
    by_type = {"string": StringTensorType, "boolean": BooleanTensorType, "long": Int64TensorType,
               "integer": Int64TensorType}  # fmt: skip
    return [(c.name, by_type.get(c.type, FloatTensorType)([None, 1])) for c in columns]


def _has_column_transformer(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    if isinstance(model, ColumnTransformer):
        return True
    steps = getattr(model, "steps", None) or [(None, t) for t in getattr(model, "transformer_list", [])]
    return any(_has_column_transformer(step) for _, step in steps)


def _packages_in(model: Any) -> set[str]:
    """The top-level packages of the estimators inside ``model`` (Pipelines, ColumnTransformers, unions)."""
    found = {type(model).__module__.split(".")[0]}
    children = [step for _, step in getattr(model, "steps", [])]
    children += [t for _, t, *_ in getattr(model, "transformers", [])] + [
        t for _, t in getattr(model, "transformer_list", [])
    ]
    for child in children:
        if hasattr(child, "fit"):
            found |= _packages_in(child)
    return found


def _unsupported(model: Any, exc: Exception, skl2onnx: Any) -> str:
    parts = [type(step).__name__ for _, step in getattr(model, "steps", [])] or [type(model).__name__]
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    count = len(skl2onnx.supported_converters(from_sklearn=True))
    return (
        f"model: skl2onnx {skl2onnx.__version__} cannot convert {' → '.join(parts)}: {first_line[:400].rstrip('.')}. "
        f'It converts {count} scikit-learn estimators and transformers (list them with python -c "import skl2onnx; '
        'print(skl2onnx.supported_converters(True))"), plus LightGBM and XGBoost estimators when they are installed'
    )


def _as_2d(values: Any) -> np.ndarray:
    import numpy as np

    array = np.asarray(values)
    return array.reshape(len(array), -1)
