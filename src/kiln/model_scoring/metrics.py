"""The metrics of a scored comparison, computed by scikit-learn's functions (the ``sklearn`` extra).

Classification metrics compare labels as they are (strings, integers): ``accuracy``; ``f1``, ``precision`` and
``recall`` averaged over the classes without weights (``average="macro"``; a class never predicted counts 0, not a
warning). Regression metrics compare numbers: ``rmse`` (the root of the mean squared error), ``mae``, ``r2``; labels
or predictions that are not numbers are refused, naming the metric."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kiln.errors import InvalidSpec
from kiln.extras import require_extra
from kiln.specs.model_compare import SCORED_METRICS

CLASSIFICATION = ("accuracy", "f1", "precision", "recall")
REGRESSION = ("rmse", "mae", "r2")
NEEDED_BY = "kiln model compare --data"


def score(metric: str, labels: Sequence[Any], predictions: Sequence[Any]) -> float:
    """``metric`` of ``predictions`` against the true ``labels`` (one per row, in the same order)."""
    if metric not in SCORED_METRICS:
        raise InvalidSpec(f"metrics: '{metric}' is not a scored metric (known: {', '.join(SCORED_METRICS)})")
    if len(labels) != len(predictions):
        raise InvalidSpec(f"metrics: {len(predictions)} predictions for {len(labels)} labelled rows")
    if not len(labels):
        raise InvalidSpec("data: no rows to score")
    if metric in REGRESSION:
        return float(_REGRESSION[metric](_numbers(labels, metric, "labels"), _numbers(predictions, metric, "answers")))
    left, right = _comparable(labels, predictions)
    return float(_CLASSIFICATION[metric](left, right))


def _metrics() -> Any:
    return require_extra("sklearn", "sklearn.metrics", needed_by=NEEDED_BY)


def _macro(name: str) -> Callable[[Any, Any], float]:
    return lambda labels, predictions: getattr(_metrics(), f"{name}_score")(
        labels, predictions, average="macro", zero_division=0
    )


_CLASSIFICATION: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": lambda labels, predictions: _metrics().accuracy_score(labels, predictions),
    "f1": _macro("f1"),
    "precision": _macro("precision"),
    "recall": _macro("recall"),
}
_REGRESSION: dict[str, Callable[[Any, Any], float]] = {
    "rmse": lambda labels, predictions: _metrics().mean_squared_error(labels, predictions) ** 0.5,
    "mae": lambda labels, predictions: _metrics().mean_absolute_error(labels, predictions),
    "r2": lambda labels, predictions: _metrics().r2_score(labels, predictions),
}


def _numbers(values: Sequence[Any], metric: str, what: str) -> Any:
    import numpy as np

    try:
        array = np.asarray(values, dtype="float64").reshape(len(values))
    except (TypeError, ValueError):
        raise InvalidSpec(
            f"metrics: '{metric}' compares numbers, and the {what} are not numbers; for labels that are classes, "
            f"use {', '.join(CLASSIFICATION)}"
        ) from None
    if not np.isfinite(array).all():
        raise InvalidSpec(f"metrics: '{metric}': the {what} hold a missing or infinite value")
    return array


def _comparable(labels: Sequence[Any], predictions: Sequence[Any]) -> tuple[Any, Any]:
    """Labels and answers of one kind: as they are when both are numbers or both text, else both as text
    (a model answering ``1`` for the label ``"1"`` read from a CSV column is right)."""
    import numpy as np

    left = np.asarray(labels).reshape(len(labels))
    right = np.asarray(predictions).reshape(len(predictions))
    numeric = left.dtype.kind in "biuf" and right.dtype.kind in "biuf"
    if numeric or left.dtype.kind == right.dtype.kind:
        return left, right
    return left.astype(str), right.astype(str)
