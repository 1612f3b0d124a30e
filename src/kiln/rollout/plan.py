"""A rollout's checks and arithmetic, without I/O: which requests are refused before anything changes, the split
at each step, and what a window of the gateway's counters says about the deployment."""

from __future__ import annotations

from kiln.errors import Conflict, InvalidSpec
from kiln.rollout.api import RolloutRequest, WindowResult
from kiln.serving.control.gateway_metrics import DeploymentStats
from kiln.specs.endpoint import DeploymentState, OnlineEndpointView


def check_request(request: RolloutRequest, endpoint: OnlineEndpointView) -> None:
    """Every reason to refuse ``request`` on ``endpoint``, raised before any traffic changes."""
    steps, name = request.steps, request.deployment
    if any(not 1 <= step <= 100 for step in steps):
        raise InvalidSpec(f"steps: {_listed(steps)}: each step is a live share between 1 and 100 percent")
    if any(later <= earlier for earlier, later in zip(steps, steps[1:], strict=False)):
        raise InvalidSpec(f"steps: {_listed(steps)} must rise at every step (e.g. 10,50,100)")
    if steps[-1] != 100:
        raise InvalidSpec(f"steps: {_listed(steps)} must end at 100, where the deployment takes all the traffic")
    deployments = {deployment.name: deployment for deployment in endpoint.deployments}
    if name not in deployments:
        known = ", ".join(sorted(deployments)) or "none yet"
        raise InvalidSpec(f"deployment: endpoint '{endpoint.name}' has no deployment '{name}' (it has: {known})")
    if deployments[name].state != DeploymentState.SUCCEEDED:
        raise Conflict(
            f"deployment: '{name}' is {deployments[name].state.value}, not succeeded; wait until it is ready "
            f"(kiln online-deployment show -e {endpoint.name} -n {name})"
        )
    current = endpoint.traffic.get(name, 0)
    others = sum(share for other, share in endpoint.traffic.items() if other != name)
    if others == 0:
        raise InvalidSpec(
            f"deployment: no other deployment of '{endpoint.name}' takes live traffic, so there is none to shift "
            f"to '{name}'; give it all traffic with kiln online-endpoint update -n {endpoint.name} --traffic {name}=100"
        )
    if steps[0] <= current:
        raise InvalidSpec(f"steps: '{name}' takes {current} % already; the first step must be above that")
    if request.mirror and current:
        raise InvalidSpec(
            f"mirror: '{name}' takes {current} % of live traffic already; mirror only before it takes any (--mirror 0)"
        )
    if request.max_p99_ms is None and request.max_error_rate >= 1:
        raise InvalidSpec("max_error_rate: 1 with no max_p99_ms watches nothing; give a limit below 1 or a p99")


def split_at(before: dict[str, int], deployment: str, percent: int) -> dict[str, int]:
    """The split with ``deployment`` at ``percent`` and the rest shared by the others in their proportions before
    (whole percentages, largest remainders first, summing to 100)."""
    others = {name: share for name, share in before.items() if name != deployment and share > 0}
    total, left = sum(others.values()), 100 - percent
    exact = {name: share * left / total for name, share in others.items()}
    split = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: (exact[name] - split[name], others[name]), reverse=True)
    for name in by_remainder[: left - sum(split.values())]:
        split[name] += 1
    return {**{name: 0 for name in before}, **split, deployment: percent}


def window(phase: str, percent: int, start: DeploymentStats, now: DeploymentStats) -> WindowResult:
    """The deployment's requests, errors and p99 between two readings of its counters. A mirror phase counts the
    mirrored copies and their failures (the gateway does not time them, so no p99)."""
    if phase == "mirror":
        requests, errors, p99 = now.mirrored - start.mirrored, now.mirror_errors - start.mirror_errors, None
    else:
        requests, errors = now.requests - start.requests, now.errors - start.errors
        delta = DeploymentStats(
            bucket_counts=[b - a for a, b in zip(start.bucket_counts, now.bucket_counts, strict=True)]
        )
        seconds = delta.quantile(0.99)
        p99 = None if seconds is None else round(seconds * 1000, 3)
    rate = round(errors / requests, 4) if requests else 0.0
    return WindowResult(
        phase=phase, percent=percent, requests=requests, errors=errors, error_rate=rate, latency_p99_ms=p99
    )  # type: ignore[arg-type]


def breach(result: WindowResult, request: RolloutRequest) -> str | None:
    """Why the window crossed a limit, or None. Judged once it has ``min_requests`` requests."""
    if result.requests == 0 or result.requests < request.min_requests:
        return None
    if result.error_rate > request.max_error_rate:
        return (
            f"error rate {result.error_rate:.2%} ({result.errors} of {result.requests} requests) at "
            f"{_phase(result)} is over the limit {request.max_error_rate:.2%}"
        )
    if (
        request.max_p99_ms is not None
        and result.latency_p99_ms is not None
        and result.latency_p99_ms > request.max_p99_ms
    ):
        return (
            f"p99 latency {result.latency_p99_ms:g} ms at {_phase(result)} is over the limit {request.max_p99_ms:g} ms"
        )
    return None


def where_it_was(windows: list[WindowResult]) -> str:
    """Where a rollout had got to, for a reason given after it was stopped: its last window's phase and share."""
    if not windows:
        return "before its first window"
    last = windows[-1]
    return f"in its mirror phase, {last.percent} % mirrored" if last.phase == "mirror" else f"at step {last.percent} %"


def _phase(result: WindowResult) -> str:
    return f"{result.percent} % mirrored" if result.phase == "mirror" else f"{result.percent} % of live traffic"


def _listed(steps: list[int]) -> str:
    return ",".join(str(step) for step in steps)
