"""The sweep job file (Azure ML's field names; what it finds wrong, naming the field) and its sampling: every
search-space type maps a point of [0, 1) to Azure's distribution, grid walks every point once, random sampling
is reproducible with a seed, Sobol and bayesian points stay in the space."""

from __future__ import annotations

import math
from typing import Any

import pytest

from kiln.sweeps.sampling import draw, grid_size, total_trials, value_of, values_of
from kiln.sweeps.spec import SearchParameter, SweepJobSpec, trial_command

BASE: dict[str, Any] = {
    "type": "sweep",
    "trial": {"command": "python train.py --lr ${{search_space.lr}}", "code": "./src"},
    "search_space": {"lr": {"type": "uniform", "min_value": 0.0, "max_value": 1.0}},
    "objective": {"goal": "minimize", "primary_metric": "loss"},
}


def _spec(**fields: Any) -> SweepJobSpec:
    return SweepJobSpec.model_validate({**BASE, **fields})


def _problems(**fields: Any) -> list[str]:
    return [f"{'.'.join(loc)}: {message}" for loc, message in _spec(**fields).problems()]


def test_an_azure_sweep_file_is_read_unchanged() -> None:
    spec = _spec(
        sampling_algorithm={"type": "random", "seed": 3, "rule": "sobol"},
        early_termination={"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 2, "delay_evaluation": 5},
        limits={"max_total_trials": 8, "max_concurrent_trials": 2, "timeout": 600, "trial_timeout": 60},
    )
    assert spec.problems() == []
    assert spec.local_paths() == {("trial", "code"): "./src"}  # uploaded at submit, like a command job's code
    assert total_trials(spec) == 8 and spec.timeout_seconds() == 600
    assert trial_command(spec.trial.command, {"lr": 0.25}) == "python train.py --lr 0.25"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"search_space": {"lr": {"type": "gaussian", "mu": 0, "sigma": 1}}}, "search_space.lr.type: 'gaussian' is not a search space type of Azure ML"),
        ({"search_space": {"lr": {"type": "randint"}}}, "search_space.lr.upper: a randint parameter needs 'upper'"),
        ({"search_space": {"lr": {"type": "uniform", "min_value": 0, "max_value": 1, "mu": 2}}}, "search_space.lr.mu: not a field of uniform"),
        ({"search_space": {"lr": {"type": "uniform", "min_value": 1, "max_value": 0}}}, "search_space.lr.max_value: must be greater than min_value"),
        ({"search_space": {"lr": {"type": "qnormal", "mu": 0, "sigma": 1, "q": 0}}}, "search_space.lr.q: must be greater than 0"),
        ({"trial": {"command": "python t.py ${{search_space.momentum}}"}}, "trial.command: '${{search_space.momentum}}': 'momentum' is not in search_space"),
        ({"sampling_algorithm": "grid"}, "search_space.lr.type: grid sampling takes choice parameters only, not uniform"),
        ({"sampling_algorithm": {"type": "bayesian", "rule": "sobol"}}, "sampling_algorithm.rule: only random sampling takes a rule"),
        ({"early_termination": {"type": "bandit"}}, "early_termination.slack_factor: a bandit policy takes one of slack_factor and slack_amount"),
        ({"early_termination": {"type": "median_stopping", "slack_factor": 0.1}}, "early_termination.slack_factor: not a field of a median_stopping policy"),
        ({"early_termination": {"type": "truncation_selection"}}, "early_termination.truncation_percentage: a truncation_selection policy needs it"),
        ({"limits": {"max_total_trials": 2, "max_concurrent_trials": 3}}, "limits.max_concurrent_trials: must not exceed limits.max_total_trials"),
        ({"code": "./src"}, "code: in a sweep job, 'code' belongs under trial"),
    ],
)  # fmt: skip
def test_what_a_sweep_file_gets_wrong_is_named_by_its_field(fields: dict[str, Any], expected: str) -> None:
    assert any(problem.startswith(expected) for problem in _problems(**fields)), _problems(**fields)


@pytest.mark.parametrize(
    ("parameter", "u", "expected"),
    [
        ({"type": "choice", "values": ["a", "b", "c"]}, 2.0, "c"),
        ({"type": "randint", "upper": 10}, 7.0, 7),
        ({"type": "uniform", "min_value": 2, "max_value": 4}, 0.25, 2.5),
        ({"type": "loguniform", "min_value": 0, "max_value": 2}, 0.5, math.e),  # Azure's bounds are exponents
        ({"type": "quniform", "min_value": 0, "max_value": 10, "q": 2}, 0.33, 4.0),  # round(3.3 / 2) * 2
        ({"type": "qloguniform", "min_value": 0, "max_value": 2, "q": 1}, 0.5, 3.0),  # round(e)
        ({"type": "normal", "mu": 5, "sigma": 2}, 0.5, 5.0),
        ({"type": "normal", "mu": 0, "sigma": 1}, 0.8413447460685429, 1.0),  # the CDF of 1 sigma
        ({"type": "lognormal", "mu": 0, "sigma": 1}, 0.5, 1.0),
        ({"type": "qnormal", "mu": 0, "sigma": 1, "q": 0.5}, 0.8413447460685429, 1.0),
        ({"type": "qlognormal", "mu": 1, "sigma": 1, "q": 1}, 0.5, 3.0),  # round(e)
    ],
)  # fmt: skip
def test_each_azure_type_maps_a_point_to_its_distribution(parameter: dict[str, Any], u: float, expected: Any) -> None:
    assert value_of(SearchParameter.model_validate(parameter), u) == pytest.approx(expected)


def test_grid_sampling_walks_every_point_once() -> None:
    spec = _spec(
        trial={"command": "t ${{search_space.a}} ${{search_space.b}}"},
        search_space={"a": {"type": "choice", "values": [1, 2, 3]}, "b": {"type": "choice", "values": ["x", "y"]}},
        sampling_algorithm="grid",
    )
    assert grid_size(spec) == total_trials(spec) == 6
    points = [tuple(values_of(spec, draw(spec, i, [])).values()) for i in range(6)]
    assert sorted(points) == sorted((a, b) for a in (1, 2, 3) for b in ("x", "y"))


def test_random_sampling_is_reproducible_with_a_seed_and_sobol_covers_the_space() -> None:
    seeded = _spec(sampling_algorithm={"type": "random", "seed": 11})
    first = [draw(seeded, i, [])["lr"] for i in range(8)]
    assert first == [draw(seeded, i, [])["lr"] for i in range(8)] and len(set(first)) == 8
    sobol = _spec(sampling_algorithm={"type": "random", "seed": 11, "rule": "sobol"})
    points = sorted(draw(sobol, i, [])["lr"] for i in range(8))
    assert all(i / 8 <= u < (i + 1) / 8 for i, u in enumerate(points))  # a scrambled Sobol set: one per eighth


def test_bayesian_sampling_moves_towards_the_good_region() -> None:
    spec = _spec(sampling_algorithm={"type": "bayesian", "seed": 0})
    finished: list[tuple[dict[str, float], float]] = []
    for index in range(30):
        point = draw(spec, index, finished)
        assert 0.0 <= point["lr"] <= 1.0
        finished.append((point, (point["lr"] - 0.3) ** 2))
    assert abs(min(finished, key=lambda item: item[1])[0]["lr"] - 0.3) < 0.05
