"""Explanations of any model with InterpretML's black-box explainers: global importances and local ones.

``explain(model, X)`` works on anything with ``predict`` (an MLflow pyfunc, a scikit-learn estimator, a
pipeline): classifiers with ``predict_proba`` are explained on the probability of the positive class.
``method="auto"`` picks the first installed of SHAP's kernel explainer, LIME and Morris sensitivity
(partial dependence needs nothing more) and the answer says which and why."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from kiln.errors import InvalidSpec
from kiln.extras import require_extra

# method -> the module it needs beyond interpret-core
METHOD_MODULES: dict[str, str | None] = {"shap": "shap", "lime": "lime", "morris": "SALib", "partial_dependence": None}
AUTO_ORDER = ("shap", "lime", "morris", "partial_dependence")
LOCAL_METHODS = ("shap", "lime")


def installed_methods() -> list[str]:
    return [m for m in AUTO_ORDER if _installed(METHOD_MODULES[m])]


def _installed(module: str | None) -> bool:
    return module is None or importlib.util.find_spec(module) is not None


def choose_method(method: str, field: str = "explanation.method") -> tuple[str, str]:
    """The method to use and why: ``auto`` takes the first installed; another is checked installed."""
    installed = installed_methods()
    if method == "auto":
        chosen = installed[0]
        missing = [m for m in AUTO_ORDER[: AUTO_ORDER.index(chosen)]]
        reason = f"auto: {chosen} is the first installed of {', '.join(AUTO_ORDER)}"
        return chosen, reason + (f" ({', '.join(missing)} not installed)" if missing else "")
    if method not in METHOD_MODULES:
        raise InvalidSpec(f"{field}: '{method}' is not an explanation method (one of auto, {', '.join(AUTO_ORDER)})")
    if method not in installed:
        raise InvalidSpec(
            f"{field}: '{method}' needs the Python package '{METHOD_MODULES[method]}', which is not installed here "
            f"(installed: {', '.join(installed)}; or write method: auto)"
        )
    return method, "asked for in the job file"


def prediction_function(
    model: Any, features: Sequence[str], dtypes: pd.Series | None = None
) -> tuple[Callable[..., Any], str]:
    """``f(array) -> 1-D array`` over the model, and what it returns (said in the report)."""
    columns = list(features)

    def frame(rows: np.ndarray) -> pd.DataFrame:
        table = pd.DataFrame(np.asarray(rows), columns=columns)
        return table.astype(dtypes.to_dict()) if dtypes is not None else table

    predict_proba = getattr(model, "predict_proba", None)
    if callable(predict_proba):
        classes = list(getattr(model, "classes_", [0, 1]))
        positive = 1 if 1 in classes else classes[-1]
        index = classes.index(positive)
        return (lambda rows: np.asarray(predict_proba(frame(rows)))[:, index]), f"probability of class {positive}"

    def predict(rows: np.ndarray) -> np.ndarray:
        answer = model.predict(frame(rows))
        values = answer.iloc[:, 0] if isinstance(answer, pd.DataFrame) else answer
        return np.asarray(values, dtype=float).reshape(-1)

    return predict, "prediction"


def explain(
    model: Any,
    X: pd.DataFrame,
    *,
    background: pd.DataFrame | None = None,
    method: str = "auto",
    local_rows: Sequence[int] = (),
    sample_rows: int = 100,
    background_rows: int = 50,
    y: pd.Series | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Global importances (and local explanations of ``local_rows`` of ``X``) of ``model`` on ``X``.

    The answer has the shape of ``report.json``'s ``explanations`` (:class:`kiln.rai.report_schema.Explanations`)."""
    require_extra("rai", "interpret", needed_by="kiln.rai.explain")
    if not isinstance(X, pd.DataFrame) or X.empty:
        raise InvalidSpec("X: a pandas DataFrame with the model's feature columns and at least one row")
    numeric = X.select_dtypes(include="number").columns
    if len(numeric) != X.shape[1]:
        others = ", ".join(c for c in X.columns if c not in numeric)
        raise InvalidSpec(f"X: the black-box explainers need numeric features; not numeric: {others}")
    bad_rows = [row for row in local_rows if not 0 <= row < len(X)]
    if bad_rows:
        raise InvalidSpec(f"explanation.local_rows: {bad_rows} not in the data's {len(X)} rows (0 to {len(X) - 1})")
    chosen, reason = choose_method(method)
    rng = np.random.default_rng(seed)
    base = X if background is None else background[list(X.columns)]
    base = base.iloc[rng.choice(len(base), size=min(background_rows, len(base)), replace=False)]
    sample = X.iloc[np.sort(rng.choice(len(X), size=min(sample_rows, len(X)), replace=False))]
    predict, explained = prediction_function(model, X.columns, X.dtypes)
    names = list(X.columns)
    started = time.perf_counter()
    if chosen in LOCAL_METHODS:
        scores = _local_scores(chosen, predict, base, sample, names)
        importances = np.abs(scores["scores"]).mean(axis=0)
    elif chosen == "morris":
        from interpret.blackbox import MorrisSensitivity

        data = MorrisSensitivity(predict, base.to_numpy(float), feature_names=names).explain_global().data()
        importances = np.asarray(data["scores"], dtype=float)
    else:
        from interpret.blackbox import PartialDependence

        explainer = PartialDependence(predict, base.to_numpy(float), feature_names=names)
        explanation = explainer.explain_global()
        importances = np.array([np.ptp(np.asarray(explanation.data(i)["scores"], float)) for i in range(len(names))])
    answer: dict[str, Any] = {
        "method": chosen,
        "method_reason": reason,
        "explained_output": explained,
        "importances": [
            {"feature": feature, "importance": float(value)}
            for feature, value in sorted(zip(names, importances, strict=True), key=lambda item: -item[1])
        ],
        "local": [],
        "local_method": None,
    }
    if local_rows:
        local_method = (
            chosen if chosen in LOCAL_METHODS else next((m for m in installed_methods() if m in LOCAL_METHODS), None)
        )
        if local_method is None:
            raise InvalidSpec(
                "explanation.local_rows: local explanations need SHAP or LIME, and neither is installed "
                '(pip install "kiln[rai]" brings SHAP)'
            )
        rows = X.iloc[list(local_rows)]
        local = _local_scores(local_method, predict, base, rows, names)
        predictions = predict(rows.to_numpy(float))
        answer["local_method"] = local_method
        for position, row in enumerate(local_rows):
            contributions = sorted(
                (
                    {"feature": name, "value": _plain(rows.iloc[position][name]), "contribution": float(score)}
                    for name, score in zip(names, local["scores"][position], strict=True)
                ),
                key=lambda item: -abs(item["contribution"]),
            )
            answer["local"].append(
                {
                    "row": int(row),
                    "prediction": float(predictions[position]),
                    "actual": _plain(y.iloc[row]) if y is not None else None,
                    "base_value": local["base"][position],
                    "contributions": contributions,
                }
            )
    answer["seconds"] = round(time.perf_counter() - started, 3)
    return answer


def _local_scores(
    method: str, predict: Callable[..., Any], base: pd.DataFrame, rows: pd.DataFrame, names: list[str]
) -> dict[str, Any]:
    import contextlib
    import io

    if method == "shap":
        from interpret.blackbox import ShapKernel

        explainer: Any = ShapKernel(predict, base.to_numpy(float), feature_names=names)
    else:
        from interpret.blackbox import LimeTabular

        explainer = LimeTabular(predict, base.to_numpy(float), feature_names=names)
    with contextlib.redirect_stderr(io.StringIO()):  # SHAP's progress bar: one line per row in the job's log
        explanation = explainer.explain_local(rows.to_numpy(float))
    scores, base_values = [], []
    for index in range(len(rows)):
        data = explanation.data(index)
        scores.append([float(value) for value in data["scores"]])
        intercept = (data.get("extra") or {}).get("scores")
        base_values.append(float(np.asarray(intercept).reshape(-1)[0]) if intercept is not None else None)
    return {"scores": np.asarray(scores), "base": base_values}


def _plain(value: Any) -> float | str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str) else float(value)
