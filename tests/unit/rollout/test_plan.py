"""A rollout's checks, its split at each step and its windows, without a server."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from kiln.errors import Conflict, InvalidSpec
from kiln.rollout.api import RolloutRequest, WindowResult
from kiln.rollout.plan import breach, check_request, split_at, window
from kiln.serving.control.gateway_metrics import GatewayMetrics
from kiln.specs.endpoint import DeploymentState, OnlineDeploymentView, OnlineEndpointView


def deployment(name: str, state: DeploymentState = DeploymentState.SUCCEEDED) -> OnlineDeploymentView:
    return OnlineDeploymentView.model_construct(name=name, state=state)


def endpoint(
    traffic: dict[str, int], *names: str, state: DeploymentState = DeploymentState.SUCCEEDED
) -> OnlineEndpointView:
    return OnlineEndpointView.model_construct(
        name="iris", traffic=traffic, mirror_traffic={}, deployments=[deployment(n, state) for n in names],
        created_at=datetime.now(UTC),
    )  # fmt: skip


def request(**fields: object) -> RolloutRequest:
    return RolloutRequest.model_validate({"deployment": "green", "steps": [10, 50, 100], **fields})


def test_a_sound_request_passes_its_checks() -> None:
    check_request(request(mirror=10), endpoint({"blue": 100}, "blue", "green"))
    check_request(request(steps=[60, 100]), endpoint({"blue": 50, "green": 50}, "blue", "green"))


@pytest.mark.parametrize(
    ("fields", "traffic", "expected"),
    [
        ({"steps": [10, 50, 90]}, {"blue": 100}, "must end at 100"),
        ({"steps": [50, 10, 100]}, {"blue": 100}, "must rise at every step"),
        ({"steps": [10, 10, 100]}, {"blue": 100}, "must rise at every step"),
        ({"steps": [0, 100]}, {"blue": 100}, "between 1 and 100"),
        ({"steps": [10, 150]}, {"blue": 100}, "between 1 and 100"),
        ({"deployment": "red"}, {"blue": 100}, "has no deployment 'red' (it has: blue, green)"),
        ({}, {"green": 100}, "no other deployment of 'iris' takes live traffic"),
        ({}, {}, "no other deployment of 'iris' takes live traffic"),
        ({"steps": [20, 100]}, {"blue": 70, "green": 30}, "takes 30 % already"),
        ({"steps": [50, 100], "mirror": 10}, {"blue": 70, "green": 30}, "mirror only before it takes any"),
        ({"max_error_rate": 1}, {"blue": 100}, "watches nothing"),
    ],
)
def test_bad_requests_are_refused_before_anything_changes(
    fields: dict[str, object], traffic: dict[str, int], expected: str
) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(expected)):
        check_request(request(**fields), endpoint(traffic, "blue", "green"))


def test_a_deployment_that_is_not_ready_is_refused() -> None:
    with pytest.raises(Conflict, match="'green' is creating, not succeeded"):
        check_request(request(), endpoint({"blue": 100}, "blue", "green", state=DeploymentState.CREATING))


@pytest.mark.parametrize(
    "fields",
    [
        {"max_error_rate": -0.1},
        {"max_error_rate": 2},
        {"max_p99_ms": 0},
        {"window_seconds": 0},
        {"mirror": 80},
        {"steps": []},
    ],
)
def test_nonsensical_limits_are_refused_by_the_request_itself(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        request(**fields)


def test_the_split_gives_the_rest_to_the_others_in_their_proportions() -> None:
    assert split_at({"blue": 100, "green": 0}, "green", 10) == {"blue": 90, "green": 10}
    assert split_at({"blue": 100}, "green", 100) == {"blue": 0, "green": 100}
    assert split_at({"blue": 60, "red": 40, "green": 0}, "green", 50) == {"blue": 30, "red": 20, "green": 50}
    thirds = split_at({"a": 34, "b": 33, "c": 33, "green": 0}, "green", 10)
    assert sum(thirds.values()) == 100 and thirds["green"] == 10 and sorted(thirds.values()) == [10, 30, 30, 30]


def test_a_window_is_the_difference_of_two_readings_of_the_counters() -> None:
    metrics = GatewayMetrics()
    for _ in range(50):
        metrics.record("iris", "green", 200, 0.002)
    start = metrics.counters("iris", "green")
    for _ in range(97):
        metrics.record("iris", "green", 200, 0.004)
    for _ in range(3):
        metrics.record("iris", "green", 500, 0.2)
    result = window("traffic", 10, start, metrics.counters("iris", "green"))
    assert (result.requests, result.errors, result.error_rate) == (100, 3, 0.03)
    assert result.latency_p99_ms is not None and 100 < result.latency_p99_ms <= 250  # the slow errors' bucket
    assert breach(result, request(max_error_rate=0.05, max_p99_ms=500)) is None
    assert "error rate 3.00% (3 of 100 requests) at 10 % of live traffic" in (breach(result, request()) or "")
    assert "p99 latency" in (breach(result, request(max_error_rate=0.05, max_p99_ms=50)) or "")


def test_a_mirror_window_counts_the_copies_and_a_window_is_judged_after_min_requests() -> None:
    metrics = GatewayMetrics()
    start = metrics.counters("iris", "green")
    for ok in (True, True, False, True):
        metrics.record_mirror("iris", "green", ok)
    mirrored = window("mirror", 10, start, metrics.counters("iris", "green"))
    assert (mirrored.requests, mirrored.errors, mirrored.latency_p99_ms) == (4, 1, None)
    assert "10 % mirrored" in (breach(mirrored, request()) or "")
    assert breach(mirrored, request(min_requests=5)) is None
    assert breach(WindowResult(phase="traffic", percent=10), request()) is None  # nothing seen: nothing judged
