"""Mitigation with Fairlearn: reductions (``ExponentiatedGradient``, ``GridSearch``) retrain the model's
estimator under a fairness constraint and need no sensitive feature to predict; post-processing
(``ThresholdOptimizer``) picks a threshold per group of the model's own scores and needs the sensitive
column at predict time. ``mitigate(...)`` answers the mitigated model (:class:`MitigatedClassifier`,
deterministic: a row always gets the same answer) and the before/after comparison of ``report.json``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kiln.errors import InvalidSpec
from kiln.extras import require_extra
from kiln.rai.fairness import assess_fairness, positive_label

# the disparity each constraint narrows, as fairlearn.metrics names it
DISPARITY_OF = {
    "demographic_parity": "demographic_parity_difference",
    "equalized_odds": "equalized_odds_difference",
    "true_positive_rate_parity": "equalized_odds_difference",
    "false_positive_rate_parity": "equalized_odds_difference",
    "true_negative_rate_parity": "equalized_odds_difference",
    "false_negative_rate_parity": "equalized_odds_difference",
    "error_rate_parity": "equalized_odds_difference",
}
COMPARED = ("accuracy", "selection_rate", "demographic_parity_difference", "equalized_odds_difference")


class MitigatedClassifier:
    """A mitigated classifier with one deterministic answer per row.

    ExponentiatedGradient's model is a randomized mixture of classifiers; here each row draws its own
    uniform number from a hash of its values, so the mixture's rates hold over many rows while a row
    scored twice (or in another batch) gets the same label."""

    def __init__(
        self, mitigator: Any, features: Sequence[str], labels: Sequence[Any], sensitive_feature: str | None = None
    ) -> None:
        self.mitigator = mitigator
        self.features = list(features)
        self.labels = list(labels)  # [negative, positive]
        self.sensitive_feature = sensitive_feature  # threshold_optimizer: read from the input at predict time

    @property
    def needs_sensitive_feature(self) -> bool:
        return self.sensitive_feature is not None

    def input_columns(self) -> list[str]:
        return self.features + ([self.sensitive_feature] if self.sensitive_feature else [])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.input_columns() if c not in X.columns]
        if missing:
            raise InvalidSpec(f"the mitigated model needs the columns {', '.join(missing)}")
        features = X[self.features]
        if self.sensitive_feature is not None:
            positive = (
                np.asarray(
                    self.mitigator.predict(
                        features, sensitive_features=X[self.sensitive_feature].astype(str), random_state=0
                    )
                )
                == self.labels[1]
            )
            return np.asarray(np.where(positive, self.labels[1], self.labels[0]))
        pmf = getattr(self.mitigator, "_pmf_predict", None)
        if callable(pmf):  # ExponentiatedGradient: P(positive) per row, realised by the row's own hash
            chance = np.asarray(pmf(features))[:, 1]
            draw = pd.util.hash_pandas_object(features.reset_index(drop=True), index=False).to_numpy() / 2.0**64
            return np.asarray(np.where(draw < chance, self.labels[1], self.labels[0]))
        return np.asarray(self.mitigator.predict(features))


@dataclass
class Mitigated:
    model: MitigatedClassifier
    result: dict[str, Any]  # report.json's ``mitigation``


def mitigate(
    estimator: Any,
    X_train: pd.DataFrame,
    y_train: pd.Series,
    sensitive_train: pd.Series,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    sensitive_test: pd.Series,
    *,
    method: str = "exponentiated_gradient",
    constraint: str = "demographic_parity",
    prefit: bool = False,
    metrics: Sequence[str] = ("accuracy", "selection_rate"),
    max_iter: int = 50,
    grid_size: int = 10,
    seed: int = 0,
) -> Mitigated:
    """Mitigate ``estimator`` for ``constraint`` about ``sensitive_train``'s groups; compare on the test data.

    Reductions retrain clones of ``estimator`` (a scikit-learn estimator); ``threshold_optimizer`` uses it as
    it is when ``prefit`` (any model with ``predict_proba`` or ``predict``)."""
    require_extra("rai", "fairlearn", needed_by="kiln.rai.mitigate")
    feature = str(sensitive_train.name or "sensitive_feature")
    labels = [label for label in sorted(pd.unique(y_train), key=str)]
    if len(labels) != 2:
        raise InvalidSpec(f"fairness.mitigation: mitigation needs two classes; '{y_train.name}' has {len(labels)}")
    positive = positive_label(y_train)
    labels = [next(label for label in labels if label != positive), positive]
    np.random.seed(seed)  # fairlearn's oracles and GridSearch draw from numpy's global generator
    mitigator = _mitigator(estimator, method, constraint, prefit, max_iter, grid_size, seed)
    sensitive_train = sensitive_train.astype(str)
    if method == "threshold_optimizer":
        mitigator.fit(X_train, y_train, sensitive_features=sensitive_train)
        model = MitigatedClassifier(mitigator, X_train.columns, labels, sensitive_feature=feature)
    else:
        mitigator.fit(X_train, y_train, sensitive_features=sensitive_train)
        model = MitigatedClassifier(mitigator, X_train.columns, labels)
    before = np.asarray(estimator.predict(X_test))
    test_input = X_test.assign(**{feature: sensitive_test.to_numpy()}) if model.needs_sensitive_feature else X_test
    after = model.predict(test_input)
    return Mitigated(model, compare(y_test, before, after, sensitive_test.rename(feature), method, constraint, metrics))


def compare(
    y_test: pd.Series, before: np.ndarray, after: np.ndarray, sensitive: pd.Series, method: str, constraint: str,
    metrics: Sequence[str] = ("accuracy", "selection_rate"),
) -> dict[str, Any]:  # fmt: skip
    """The before/after table: the constraint's disparity gained, the accuracy paid, every metric side by side."""
    wanted = list(dict.fromkeys(["accuracy", "selection_rate", *metrics]))
    groups = sensitive.to_frame()
    old = assess_fairness(y_test, before, groups, metrics=wanted)
    new = assess_fairness(y_test, after, groups, metrics=wanted)
    old_grouping, new_grouping = old["groupings"][0], new["groupings"][0]
    disparity = DISPARITY_OF[constraint]
    rows = [(name, old["overall"][name], new["overall"][name]) for name in wanted]
    rows += [(f"{name} ({sensitive.name})", old_grouping[name], new_grouping[name]) for name in COMPARED[2:]]
    rows += [(f"{name} difference ({sensitive.name})", old_grouping["difference"][name], new_grouping["difference"][name]) for name in wanted if name != "accuracy"]  # fmt: skip
    disparity_before, disparity_after = float(old_grouping[disparity] or 0.0), float(new_grouping[disparity] or 0.0)
    accuracy_before, accuracy_after = float(old["overall"]["accuracy"]), float(new["overall"]["accuracy"])
    return {
        "method": method,
        "constraint": constraint,
        "sensitive_feature": str(sensitive.name),
        "needs_sensitive_feature": method == "threshold_optimizer",
        "disparity_metric": disparity,
        "disparity_before": disparity_before,
        "disparity_after": disparity_after,
        "disparity_reduction": 1.0 - disparity_after / disparity_before if disparity_before > 0 else 0.0,
        "accuracy_before": accuracy_before,
        "accuracy_after": accuracy_after,
        "accuracy_paid": accuracy_before - accuracy_after,
        "comparison": [
            {"metric": name, "before": a, "after": b, "change": None if a is None or b is None else b - a}
            for name, a, b in rows
        ],
        "groups_after": new_grouping,
    }


def _mitigator(
    estimator: Any, method: str, constraint: str, prefit: bool, max_iter: int, grid_size: int, seed: int
) -> Any:
    from fairlearn import postprocessing, reductions
    from sklearn.base import clone

    if method == "threshold_optimizer":
        scores = "predict_proba" if callable(getattr(estimator, "predict_proba", None)) else "predict"
        return postprocessing.ThresholdOptimizer(
            estimator=estimator, constraints=constraint, prefit=prefit, predict_method=scores
        )
    constraints = {
        "demographic_parity": reductions.DemographicParity,
        "equalized_odds": reductions.EqualizedOdds,
        "true_positive_rate_parity": reductions.TruePositiveRateParity,
        "false_positive_rate_parity": reductions.FalsePositiveRateParity,
        "error_rate_parity": reductions.ErrorRateParity,
    }
    if constraint not in constraints:
        raise InvalidSpec(f"fairness.mitigation.constraint: {method} takes one of {', '.join(constraints)}")
    try:
        base = clone(estimator)
    except TypeError:
        raise InvalidSpec(
            f"fairness.mitigation.method: {method} retrains the model's estimator, and this model is not a "
            "scikit-learn estimator; use threshold_optimizer"
        ) from None
    weight = _sample_weight_name(base)
    if method == "exponentiated_gradient":
        return reductions.ExponentiatedGradient(
            base, constraints[constraint](), max_iter=max_iter, sample_weight_name=weight
        )
    return reductions.GridSearch(base, constraints[constraint](), grid_size=grid_size, sample_weight_name=weight)


def _sample_weight_name(estimator: Any) -> str:
    """A pipeline takes its last step's weights as ``STEP__sample_weight``."""
    steps = getattr(estimator, "steps", None)
    return f"{steps[-1][0]}__sample_weight" if steps else "sample_weight"
