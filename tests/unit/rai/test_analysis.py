"""kiln.rai's Python API on examples/responsible-ml's generated data, whose truth is known: four informative
features and three of noise, a disparity injected against sex == F."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import kiln.rai
from kiln.errors import InvalidSpec
from kiln.rai.explanations import choose_method
from tests.conftest import REPO

spec = importlib.util.spec_from_file_location(
    "generate_data", REPO / "examples" / "responsible-ml" / "generate_data.py"
)
assert spec is not None and spec.loader is not None
generate_data = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate_data)
FEATURES = list(generate_data.FEATURES)
INFORMATIVE, NOISE = set(generate_data.INFORMATIVE), set(generate_data.NOISE)


@pytest.fixture(scope="module")
def credit() -> dict[str, Any]:
    table = generate_data.generate(900, seed=3)
    train, test = table.iloc[:600].reset_index(drop=True), table.iloc[600:].reset_index(drop=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(train[FEATURES], train["default"])
    return {"train": train, "test": test, "model": model}


@pytest.mark.parametrize("method", ["shap", "morris", "partial_dependence"])
def test_every_installed_method_ranks_the_informative_features_above_the_noise(
    credit: dict[str, Any], method: str
) -> None:
    explained = kiln.rai.explain(
        credit["model"], credit["test"][FEATURES], background=credit["train"][FEATURES], method=method,
        sample_rows=30, background_rows=20,
    )  # fmt: skip
    ranked = [item["feature"] for item in explained["importances"]]
    assert set(ranked[:4]) == INFORMATIVE and set(ranked[4:]) == NOISE, (method, explained["importances"])
    assert explained["method"] == method and explained["explained_output"] == "probability of class 1"


def test_local_explanations_add_up_to_the_prediction(credit: dict[str, Any]) -> None:
    test = credit["test"]
    explained = kiln.rai.explain(
        credit["model"], test[FEATURES], background=credit["train"][FEATURES], method="auto", local_rows=[0, 5],
        sample_rows=20, background_rows=20, y=test["default"],
    )  # fmt: skip
    assert explained["method"] == "shap" and explained["method_reason"].startswith("auto: shap")
    for row in explained["local"]:
        total = row["base_value"] + sum(c["contribution"] for c in row["contributions"])
        assert total == pytest.approx(row["prediction"], abs=1e-6)  # SHAP's additivity
        assert row["actual"] == float(test["default"][row["row"]])
        sizes = [abs(c["contribution"]) for c in row["contributions"]]
        assert sizes == sorted(sizes, reverse=True)


def test_auto_says_what_it_picked_and_a_missing_method_names_its_package() -> None:
    method, reason = choose_method("auto")
    assert method == "shap" and "first installed" in reason
    with pytest.raises(InvalidSpec, match="explanation.method: 'lime' needs the Python package 'lime'"):
        choose_method("lime")
    with pytest.raises(InvalidSpec, match="black-box explainers need numeric features; not numeric: sex"):
        kiln.rai.explain(LogisticRegression(), pd.DataFrame({"income": [1.0], "sex": ["F"]}))


def test_the_assessment_finds_the_injected_disparity_by_group_and_intersection(credit: dict[str, Any]) -> None:
    test = credit["test"]
    predicted = credit["model"].predict(test[FEATURES])
    assessed = kiln.rai.assess_fairness(
        test["default"], predicted, test[["sex", "age_group"]], metrics=["accuracy", "selection_rate", "count"]
    )
    by_sex, by_age, both = assessed["groupings"]
    rates = {group["label"]: group["metrics"]["selection_rate"] for group in by_sex["groups"]}
    assert by_sex["demographic_parity_difference"] == pytest.approx(rates["F"] - rates["M"]) and rates["F"] > rates["M"]
    assert by_sex["demographic_parity_difference"] > 0.2
    assert by_age["features"] == ["age_group"] and both["features"] == ["sex", "age_group"]
    assert sum(group["count"] for group in both["groups"]) == len(test) == assessed["overall"]["count"]
    assert both["groups"][0]["label"].count(" × ") == 1


def test_a_fair_model_shows_no_disparity() -> None:
    rng = np.random.default_rng(0)
    groups = pd.DataFrame({"sex": rng.choice(["F", "M"], 4000)})
    truth, predicted = rng.integers(0, 2, 4000), rng.integers(0, 2, 4000)
    assessed = kiln.rai.assess_fairness(truth, predicted, groups, metrics=["selection_rate"])
    assert assessed["groupings"][0]["demographic_parity_difference"] < 0.05


def test_a_regression_is_assessed_with_its_own_metrics_and_refused_selection_rates() -> None:
    groups = pd.DataFrame({"g": ["a", "a", "b", "b"]})
    assessed = kiln.rai.assess_fairness(
        [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 4.0], groups, metrics=["mean_absolute_error"], task_type="regression"
    )
    errors = {group["label"]: group["metrics"]["mean_absolute_error"] for group in assessed["groupings"][0]["groups"]}
    assert errors == {"a": 0.25, "b": 0.25} and "demographic_parity_difference" not in assessed["groupings"][0]
    with pytest.raises(InvalidSpec, match="'selection_rate' is a classification metric"):
        kiln.rai.assess_fairness(
            [1.0], [1.0], pd.DataFrame({"g": ["a"]}), metrics=["selection_rate"], task_type="regression"
        )


@pytest.mark.parametrize("method", ["exponentiated_gradient", "grid_search"])
def test_reductions_at_least_halve_the_disparity_and_need_no_sensitive_feature(
    credit: dict[str, Any], method: str
) -> None:
    train, test = credit["train"], credit["test"]
    mitigated = kiln.rai.mitigate(
        credit["model"], train[FEATURES], train["default"], train["sex"], test[FEATURES], test["default"], test["sex"],
        method=method, constraint="demographic_parity", max_iter=30, grid_size=12,
    )  # fmt: skip
    result = mitigated.result
    assert result["disparity_after"] <= result["disparity_before"] / 2, result
    assert result["accuracy_paid"] == pytest.approx(result["accuracy_before"] - result["accuracy_after"])
    assert not mitigated.model.needs_sensitive_feature and mitigated.model.input_columns() == FEATURES
    first, again = mitigated.model.predict(test[FEATURES]), mitigated.model.predict(test[FEATURES].iloc[::-1])
    assert (first == again[::-1]).all()  # one answer per row, whatever the batch


def test_threshold_optimizer_needs_the_sensitive_column_at_predict_time(credit: dict[str, Any]) -> None:
    train, test = credit["train"], credit["test"]
    mitigated = kiln.rai.mitigate(
        credit["model"], train[FEATURES], train["default"], train["sex"], test[FEATURES], test["default"], test["sex"],
        method="threshold_optimizer", constraint="demographic_parity", prefit=True,
    )  # fmt: skip
    assert mitigated.result["disparity_after"] <= mitigated.result["disparity_before"] / 2
    assert mitigated.model.input_columns() == [*FEATURES, "sex"] and mitigated.result["needs_sensitive_feature"]
    with pytest.raises(InvalidSpec, match="needs the columns sex"):
        mitigated.model.predict(test[FEATURES])
