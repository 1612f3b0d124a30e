"""The metric gate of ``kiln model compare``: goals, deltas and refusals, on fake registry versions and runs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kiln.errors import InvalidSpec, NotFound
from kiln.services.model_compare import compare_versions, version_reference
from kiln.specs.model_compare import CompareRequest, default_goal, parse_metric_gate
from kiln.specs.references import AssetReference


@dataclass
class FakeVersion:
    version: str
    run_id: str | None
    name: str = "iris"
    aliases: list[str] = field(default_factory=list)


@dataclass
class FakeView:
    job: str | None
    type: str = "mlflow_model"


class FakeModels:
    def __init__(self, versions: dict[str, FakeVersion], aliases: dict[str, str]) -> None:
        self.versions, self.aliases = versions, aliases

    def resolve(self, reference: AssetReference) -> FakeVersion:
        number = reference.version or self.aliases.get(reference.label or "")
        if number is None or number not in self.versions:
            raise NotFound(f"model 'iris' has no alias or version {reference}")
        return self.versions[number]

    def version_view(self, version: FakeVersion) -> FakeView:
        return FakeView(job=version.run_id)


class FakeTracker:
    def __init__(self, metrics: dict[str, dict[str, float]]) -> None:
        self.metrics = metrics

    def params_and_metrics(self, run_id: str) -> tuple[dict[str, str], dict[str, float]]:
        return {}, self.metrics[run_id]


MODELS = FakeModels(
    {"3": FakeVersion("3", "job-3"), "5": FakeVersion("5", "job-5"), "6": FakeVersion("6", None)}, {"champion": "3"}
)
TRACKER = FakeTracker(
    {
        "job-3": {"accuracy": 0.90, "val_loss": 0.30, "auc": 0.8},
        "job-5": {"accuracy": 0.93, "val_loss": 0.35, "auc": float("nan")},
    }
)


def compare(*metrics: str, candidate: str = "5", baseline: str = "@champion", min_delta: float = 0.0):  # type: ignore[no-untyped-def]
    request = CompareRequest(
        candidate=candidate, baseline=baseline, metrics=[parse_metric_gate(m, min_delta) for m in metrics]
    )
    return compare_versions(MODELS, TRACKER, "iris", request)  # type: ignore[arg-type]


def test_goals_default_from_the_metric_name_and_can_be_given() -> None:
    assert [default_goal(n) for n in ("accuracy", "f1", "val_loss", "rmse", "error_rate", "MAE")] == [
        "max", "max", "min", "min", "min", "min",
    ]  # fmt: skip
    assert parse_metric_gate("accuracy:min").resolved_goal == "min"
    assert parse_metric_gate("rmse:max:0.5").min_delta == 0.5
    assert parse_metric_gate("accuracy", 0.02).min_delta == 0.02


def test_a_better_candidate_passes_and_each_row_says_why() -> None:
    result = compare("accuracy", baseline="@champion")
    assert (result.candidate, result.baseline, result.passed) == ("5", "3", True)
    (row,) = result.rows
    assert (row.goal, row.candidate, row.baseline, row.passed) == ("max", 0.93, 0.90, True)
    assert row.delta == pytest.approx(0.03)
    assert (result.candidate_job, result.baseline_job) == ("job-5", "job-3")


def test_a_candidate_fails_on_a_required_delta_or_a_metric_that_got_worse() -> None:
    assert not compare("accuracy", min_delta=0.05).passed  # 0.03 better is not 0.05 better
    mixed = compare("accuracy", "val_loss")  # val_loss minimises: 0.35 is worse than 0.30
    assert [row.passed for row in mixed.rows] == [True, False] and not mixed.passed
    assert compare("accuracy", "val_loss:min:-0.1").passed  # a regression of up to 0.1 allowed
    assert compare("accuracy:min").passed is False  # the goal given wins over the name's


def test_bad_input_is_an_error_naming_what_to_fix_not_a_failed_gate() -> None:
    with pytest.raises(
        InvalidSpec, match=r"the candidate \(model 'iris' version 5\) has no metric 'f1'.*accuracy, auc, val_loss"
    ):
        compare("f1")
    with pytest.raises(InvalidSpec, match="logged 'auc' as nan, which no gate can compare"):
        compare("auc")
    with pytest.raises(NotFound):
        compare("accuracy", baseline="@production")
    with pytest.raises(NotFound):
        compare("accuracy", candidate="42")
    with pytest.raises(InvalidSpec, match="version 6 has no source run"):
        compare("accuracy", candidate="6")
    for bad in ("accuracy:up", "accuracy:max:x", "accuracy:max:inf", ":max"):
        with pytest.raises(InvalidSpec, match="--metric"):
            parse_metric_gate(bad)


def test_versions_are_numbers_latest_or_aliases_with_or_without_the_at() -> None:
    assert version_reference("iris", "5") == AssetReference("iris", "5")
    assert version_reference("iris", "@champion") == AssetReference("iris", label="champion")
    assert version_reference("iris", "champion") == AssetReference("iris", label="champion")
    assert version_reference("iris", "latest") == AssetReference("iris", label="latest")
