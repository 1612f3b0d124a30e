"""Fairness assessment with Fairlearn: a model's metrics per group (each sensitive feature alone, then their
intersection) with ``MetricFrame``, and the disparities between groups.

``assess_fairness(y_true, y_pred, sensitive_features)`` answers in the shape of ``report.json``'s ``fairness``
(:class:`kiln.rai.report_schema.FairnessAssessment`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from kiln.errors import InvalidSpec
from kiln.extras import require_extra
from kiln.rai.spec import CLASSIFICATION_METRICS, CLASSIFICATION_ONLY, REGRESSION_METRICS

INTERSECTION = " × "


def positive_label(y: pd.Series) -> Any:
    """What counts as a selection: 1 when the labels have it, else the largest label."""
    labels = sorted(pd.unique(y), key=str)
    return 1 if 1 in set(labels) else labels[-1]


def metric_functions(names: Sequence[str], task_type: str, pos_label: Any) -> dict[str, Callable[..., Any]]:
    """Fairlearn's and scikit-learn's metric functions by the names the job file uses."""
    require_extra("rai", "fairlearn", needed_by="kiln.rai.assess_fairness")
    from fairlearn import metrics as fm
    from sklearn import metrics as sk

    known = CLASSIFICATION_METRICS if task_type == "classification" else REGRESSION_METRICS
    for name in names:
        if name not in known:
            kind = "a classification metric" if name in CLASSIFICATION_ONLY else "not a metric kiln knows"
            raise InvalidSpec(
                f"fairness.metrics: '{name}' is {kind} for task_type {task_type} (known: {', '.join(known)})"
            )

    def binary(function: Callable[..., Any]) -> Callable[..., Any]:
        return lambda y_true, y_pred: function(y_true, y_pred, pos_label=pos_label, zero_division=0)

    def rate(function: Callable[..., Any]) -> Callable[..., Any]:
        return lambda y_true, y_pred: function(y_true, y_pred, pos_label=pos_label)

    table: dict[str, Callable[..., Any]] = {
        "accuracy": sk.accuracy_score,
        "balanced_accuracy": sk.balanced_accuracy_score,
        "precision": binary(sk.precision_score),
        "recall": binary(sk.recall_score),
        "f1": binary(sk.f1_score),
        "selection_rate": rate(fm.selection_rate),
        "false_positive_rate": rate(fm.false_positive_rate),
        "false_negative_rate": rate(fm.false_negative_rate),
        "true_positive_rate": rate(fm.true_positive_rate),
        "true_negative_rate": rate(fm.true_negative_rate),
        "count": fm.count,
        "mean_absolute_error": sk.mean_absolute_error,
        "mean_squared_error": sk.mean_squared_error,
        "r2": sk.r2_score,
        "mean_prediction": fm.mean_prediction,
    }
    return {name: table[name] for name in names}


def assess_fairness(
    y_true: Sequence[Any] | pd.Series,
    y_pred: Sequence[Any] | pd.Series,
    sensitive_features: pd.DataFrame,
    *,
    metrics: Sequence[str] = ("accuracy", "selection_rate"),
    task_type: str = "classification",
) -> dict[str, Any]:
    """Metrics overall and per group of each sensitive column, of their intersection, and the disparities."""
    require_extra("rai", "fairlearn", needed_by="kiln.rai.assess_fairness")
    truth, predicted = pd.Series(np.asarray(y_true)), pd.Series(np.asarray(y_pred))
    sensitive = pd.DataFrame(sensitive_features).reset_index(drop=True).astype(str)
    if not (len(truth) == len(predicted) == len(sensitive)):
        raise InvalidSpec(
            f"assess_fairness: y_true ({len(truth)}), y_pred ({len(predicted)}) and sensitive_features "
            f"({len(sensitive)}) must have one row per example"
        )
    pos_label = positive_label(truth) if task_type == "classification" else None
    if (
        task_type == "classification"
        and truth.nunique() > 2
        and set(metrics) - {"accuracy", "balanced_accuracy", "count"}
    ):
        raise InvalidSpec(
            f"fairness.metrics: rates and selection need two classes; the target has {truth.nunique()} "
            "(use accuracy, balanced_accuracy and count)"
        )
    functions = metric_functions(metrics, task_type, pos_label)
    overall = {name: _number(function(truth, predicted)) for name, function in functions.items()}
    groupings = [[column] for column in sensitive.columns]
    if len(sensitive.columns) > 1:
        groupings.append(list(sensitive.columns))
    answer = {
        "metrics": list(metrics),
        "positive_label": None if pos_label is None else str(pos_label),
        "overall": overall,
        "groupings": [
            grouping(truth, predicted, sensitive[columns], functions, task_type, pos_label) for columns in groupings
        ],
    }
    return answer


def grouping(
    truth: pd.Series, predicted: pd.Series, sensitive: pd.DataFrame, functions: dict[str, Callable[..., Any]], task_type: str,
    pos_label: Any,
) -> dict[str, Any]:  # fmt: skip
    """One MetricFrame: the groups of ``sensitive``'s columns, their metrics and the disparities between them."""
    from fairlearn import metrics as fm

    frame = fm.MetricFrame(metrics=functions, y_true=truth, y_pred=predicted, sensitive_features=sensitive)
    by_group = frame.by_group
    counts = sensitive.value_counts()
    groups = []
    for key, row in by_group.iterrows():
        values = key if isinstance(key, tuple) else (key,)
        labels = dict(zip(sensitive.columns, (str(v) for v in values), strict=True))
        groups.append(
            {
                "values": labels,
                "label": INTERSECTION.join(labels.values()),
                "count": int(counts.get(values if len(values) > 1 else values[0], 0)),
                "metrics": {name: _number(row[name]) for name in functions},
            }
        )
    answer: dict[str, Any] = {
        "features": list(sensitive.columns),
        "groups": groups,
        "difference": {name: _number(value) for name, value in frame.difference().items()},
        "ratio": {name: _number(value) for name, value in frame.ratio().items()},
    }
    if task_type == "classification":
        truth01, predicted01 = (truth == pos_label).astype(int), (predicted == pos_label).astype(int)
        answer.update(
            demographic_parity_difference=_number(
                fm.demographic_parity_difference(truth01, predicted01, sensitive_features=sensitive)
            ),
            demographic_parity_ratio=_number(
                fm.demographic_parity_ratio(truth01, predicted01, sensitive_features=sensitive)
            ),
            equalized_odds_difference=_number(
                fm.equalized_odds_difference(truth01, predicted01, sensitive_features=sensitive)
            ),
            equalized_odds_ratio=_number(fm.equalized_odds_ratio(truth01, predicted01, sensitive_features=sensitive)),
        )
    return answer


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number
