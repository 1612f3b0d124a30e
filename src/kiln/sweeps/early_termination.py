"""Azure ML's early termination policies, applied as trials log their primary metric.

Each value a trial logs for the primary metric is one *interval* (its i-th value is interval i, counted from
1). A policy is applied to a trial at interval ``i`` when ``i > delay_evaluation`` and ``i`` is a multiple of
``evaluation_interval``, at the latest such interval the trial has reached, against every trial (running or
ended) that reached interval ``i`` too:

- ``bandit``: the best value at interval ``i`` sets a bar: ``best / (1 + slack_factor)`` or ``best -
  slack_amount`` when maximizing, ``best * (1 + slack_factor)`` or ``best + slack_amount`` when minimizing; a
  trial whose value at ``i`` is worse than the bar is canceled;
- ``median_stopping``: a trial whose best value up to ``i`` is worse than the median of every trial's running
  average over its first ``i`` values is canceled;
- ``truncation_selection``: the trials at interval ``i`` ranked by their value there; the worst
  ``truncation_percentage`` percent of them (rounded down) are canceled, if still running.

Only running trials are canceled; ended ones are compared against, never changed."""

from __future__ import annotations

import statistics

from kiln.sweeps.spec import EarlyTermination, SweepJobSpec

TrialHistory = tuple[str, list[float], str]  # a trial's name, its primary metric's values, its status
RUNNING = ("queued", "preparing", "running")


def to_stop(spec: SweepJobSpec, trials: list[TrialHistory]) -> set[str]:
    """The running trials the sweep's policy cancels now."""
    policy = spec.early_termination
    if policy is None:
        return set()
    maximize = spec.objective.goal == "maximize"
    stopped = set()
    for name, history, status in trials:
        interval = _evaluated_interval(policy, len(history))
        if status not in RUNNING or interval is None:
            continue
        peers = [values for _, values, _ in trials if len(values) >= interval]
        if _behind(policy, maximize, history, interval, peers):
            stopped.add(name)
    return stopped


def _evaluated_interval(policy: EarlyTermination, reached: int) -> int | None:
    """The latest interval up to ``reached`` at which the policy applies; None before the first."""
    interval = reached - reached % policy.evaluation_interval
    return interval if interval > policy.delay_evaluation and interval > 0 else None


def _behind(policy: EarlyTermination, maximize: bool, history: list[float], i: int, peers: list[list[float]]) -> bool:
    better = (lambda a, b: a > b) if maximize else (lambda a, b: a < b)
    value = history[i - 1]
    at_i = [values[i - 1] for values in peers]
    if policy.type == "bandit":
        best = max(at_i) if maximize else min(at_i)
        if policy.slack_factor is not None:
            bar = best / (1 + policy.slack_factor) if maximize else best * (1 + policy.slack_factor)
        else:
            slack = policy.slack_amount or 0.0
            bar = best - slack if maximize else best + slack
        return better(bar, value)
    if policy.type == "median_stopping":
        median = statistics.median(sum(values[:i]) / i for values in peers)
        best_so_far = max(history[:i]) if maximize else min(history[:i])
        return better(median, best_so_far)
    ranked = sorted(at_i, reverse=not maximize)  # worst first
    cut = len(ranked) * (policy.truncation_percentage or 0) // 100
    return cut > 0 and not better(value, ranked[cut - 1])
