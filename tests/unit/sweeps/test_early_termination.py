"""Early termination: bandit, median stopping and truncation selection with Azure ML's semantics (docs/sweeps.md):
which running trials each cancels at an evaluation interval, and that ended trials are never among them."""

from __future__ import annotations

from typing import Any

from kiln.sweeps.early_termination import to_stop
from kiln.sweeps.spec import SweepJobSpec


def _spec(policy: dict[str, Any], goal: str = "maximize") -> SweepJobSpec:
    return SweepJobSpec.model_validate(
        {
            "type": "sweep", "trial": {"command": "t ${{search_space.x}}"},
            "search_space": {"x": {"type": "uniform", "min_value": 0, "max_value": 1}},
            "objective": {"goal": goal, "primary_metric": "acc"}, "early_termination": policy,
        }
    )  # fmt: skip


def test_bandit_cancels_the_trials_outside_the_slack_of_the_best() -> None:
    spec = _spec({"type": "bandit", "slack_factor": 0.1})
    trials = [("best", [0.8, 1.0], "completed"), ("close", [0.8, 0.95], "running"), ("far", [0.8, 0.85], "running")]
    assert to_stop(spec, trials) == {"far"}  # the bar is 1.0 / 1.1 = 0.909
    amount = _spec({"type": "bandit", "slack_amount": 0.2}, goal="minimize")
    assert to_stop(amount, [("a", [1.0], "completed"), ("b", [1.15], "running"), ("c", [1.3], "running")]) == {"c"}


def test_policies_wait_for_delay_evaluation_and_apply_at_their_interval() -> None:
    trials = [("good", [1.0, 1.0, 1.0], "completed"), ("bad", [0.1, 0.1, 0.1], "running")]
    assert to_stop(_spec({"type": "bandit", "slack_factor": 0.1, "delay_evaluation": 3}), trials) == set()
    assert to_stop(_spec({"type": "bandit", "slack_factor": 0.1, "delay_evaluation": 2}), trials) == {"bad"}
    early = [("good", [1.0], "completed"), ("bad", [0.1], "running")]
    assert to_stop(_spec({"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 2}), early) == set()


def test_median_stopping_compares_the_best_so_far_with_the_median_of_running_averages() -> None:
    spec = _spec({"type": "median_stopping"})
    trials = [("a", [0.5, 0.5], "completed"), ("b", [1.0, 1.0], "completed"), ("c", [0.2, 0.4], "running")]
    assert to_stop(spec, trials) == {"c"}  # running averages 0.5, 1.0, 0.3: median 0.5 > 0.4, c's best
    trials[2] = ("c", [0.2, 0.6], "running")
    assert to_stop(spec, trials) == set()


def test_truncation_selection_cancels_the_worst_percentage_still_running() -> None:
    spec = _spec({"type": "truncation_selection", "truncation_percentage": 50}, goal="minimize")
    trials = [("a", [1.0], "running"), ("b", [2.0], "running"), ("c", [3.0], "completed"), ("d", [4.0], "running")]
    assert to_stop(spec, trials) == {"d"}  # the worst two are c and d; c has ended


def test_ended_trials_are_never_canceled() -> None:
    spec = _spec({"type": "bandit", "slack_factor": 0.1})
    assert to_stop(spec, [("good", [1.0], "completed"), ("bad", [0.1], "failed")]) == set()
