"""Drawing a trial's parameters: every search-space dimension is a point ``u`` of [0, 1) (or an index, for
``choice``) mapped to Azure ML's distribution of that type; random sampling draws the points (seeded per trial,
or from a scrambled Sobol sequence), grid sampling walks the choices' product, bayesian sampling asks Optuna's
TPE sampler, told every finished trial. Nothing here keeps state: trial ``n``'s point is a function of the
sweep's spec and the trials before it, so a restarted server draws on where it was."""

from __future__ import annotations

import itertools
import math
import random
from statistics import NormalDist
from typing import Any

from kiln.extras import require_extra
from kiln.sweeps.spec import SearchParameter, SweepJobSpec

EDGE = 1e-9  # the normal family's u is kept off 0 and 1 (their inverse CDF is infinite there)
Point = dict[str, float]  # u per dimension (a choice's: its index)
DEFAULT_TRIALS = 20


def value_of(parameter: SearchParameter, u: float) -> Any:
    """The parameter's value at ``u`` (in [0, 1); a choice's and a randint's: the index itself)."""
    kind = parameter.type
    if kind == "choice":
        assert parameter.values is not None
        return parameter.values[int(u)]
    if kind == "randint":
        return int(u)
    if kind in ("uniform", "loguniform", "quniform", "qloguniform"):
        assert parameter.min_value is not None and parameter.max_value is not None
        value = parameter.min_value + u * (parameter.max_value - parameter.min_value)
    else:
        assert parameter.mu is not None and parameter.sigma is not None
        value = NormalDist(parameter.mu, parameter.sigma).inv_cdf(min(max(u, EDGE), 1 - EDGE))
    if kind.removeprefix("q") in ("loguniform", "lognormal"):
        value = math.exp(value)
    if kind.startswith("q"):
        assert parameter.q is not None
        value = round(value / parameter.q) * parameter.q
    return value


def values_of(spec: SweepJobSpec, point: Point) -> dict[str, Any]:
    return {name: value_of(parameter, point[name]) for name, parameter in spec.search_space.items()}


def total_trials(spec: SweepJobSpec) -> int:
    """``limits.max_total_trials``; for a grid without it, the grid's size (each point once)."""
    limit = spec.sweep_limits().max_total_trials
    if spec.sampling().type == "grid":
        return min(limit or grid_size(spec), grid_size(spec))
    return limit or DEFAULT_TRIALS


def grid_size(spec: SweepJobSpec) -> int:
    return math.prod(len(parameter.values or ()) for parameter in spec.search_space.values())


def draw(spec: SweepJobSpec, index: int, finished: list[tuple[Point, float]]) -> Point:
    """Trial ``index``'s point, given the finished trials' points and objective values."""
    sampling = spec.sampling()
    names = list(spec.search_space)
    if sampling.type == "grid":
        axes = [range(len(spec.search_space[name].values or ())) for name in names]
        return dict(zip(names, map(float, next(itertools.islice(itertools.product(*axes), index, None))), strict=True))
    if sampling.type == "bayesian":
        return _bayesian(spec, finished, seed=(sampling.seed or 0) + index)
    if sampling.rule == "sobol":
        unit = _sobol(len(names), index, sampling.seed)
    else:
        generator = random.Random(f"{sampling.seed}:{index}" if sampling.seed is not None else None)
        unit = [generator.random() for _ in names]
    return {name: _discrete(spec.search_space[name], u) for name, u in zip(names, unit, strict=True)}


def _discrete(parameter: SearchParameter, u: float) -> float:
    """A choice's or a randint's index at ``u``; any other type's ``u`` itself."""
    count = len(parameter.values or ()) if parameter.type == "choice" else parameter.upper
    return float(min(int(u * count), count - 1)) if count and parameter.type in ("choice", "randint") else u


def _sobol(dimensions: int, index: int, seed: int | None) -> list[float]:
    qmc = require_extra("sweeps", "scipy.stats.qmc", needed_by="random sampling with rule: sobol")
    sequence = qmc.Sobol(d=dimensions, scramble=True, seed=seed)
    if index:
        sequence.fast_forward(index)
    return [float(u) for u in sequence.random(1)[0]]


def _distributions(spec: SweepJobSpec) -> dict[str, Any]:
    optuna = require_extra("sweeps", "optuna", needed_by="bayesian sampling")
    distributions: dict[str, Any] = {}
    for name, parameter in spec.search_space.items():
        if parameter.type == "choice":
            distributions[name] = optuna.distributions.IntDistribution(0, len(parameter.values or ()) - 1)
        elif parameter.type == "randint":
            distributions[name] = optuna.distributions.IntDistribution(0, (parameter.upper or 1) - 1)
        else:
            distributions[name] = optuna.distributions.FloatDistribution(0.0, 1.0)
    return distributions


def _bayesian(spec: SweepJobSpec, finished: list[tuple[Point, float]], seed: int) -> Point:
    """Optuna's TPE sampler's next point, with the finished trials told to a study made for this draw."""
    optuna = require_extra("sweeps", "optuna", needed_by="bayesian sampling")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = _distributions(spec)
    direction = "minimize" if spec.objective.goal == "minimize" else "maximize"
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, len(distributions) * 3)))
    study = optuna.create_study(direction=direction, sampler=sampler)
    for point, value in finished:
        params = {name: _optuna_value(distributions[name], point[name]) for name in distributions}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    trial = study.ask(distributions)
    return {name: float(trial.params[name]) for name in distributions}


def _optuna_value(distribution: Any, u: float) -> Any:
    return int(u) if type(distribution).__name__ == "IntDistribution" else min(max(u, 0.0), 1.0)
