"""The rollout's state machine on a fake endpoint (no server, no replicas): each reading of the counters adds the
requests the deployment's current share would get, failing or not; windows of a few tenths of a second."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from kiln.errors import Conflict, NotFound
from kiln.rollout.api import RolloutRequest, RolloutView
from kiln.rollout.service import RolloutService
from kiln.serving.control.gateway_metrics import DeploymentStats, GatewayMetrics
from kiln.specs.endpoint import DeploymentState, EndpointUpdate, OnlineDeploymentView, OnlineEndpointView


class FakeEndpoints:
    """One endpoint 'iris' with blue and green; green fails every request when ``failing``."""

    def __init__(self, failing: bool = False, traffic: dict[str, int] | None = None) -> None:
        self.traffic, self.mirror = traffic or {"blue": 100}, {}
        self.failing, self.updates = failing, []
        self.metrics = GatewayMetrics()
        self.lock = threading.Lock()

    def get_endpoint(self, name: str) -> OnlineEndpointView:
        if name != "iris":
            raise NotFound(f"online endpoint '{name}' not found")
        deployments = [
            OnlineDeploymentView.model_construct(name=n, state=DeploymentState.SUCCEEDED) for n in ("blue", "green")
        ]
        return OnlineEndpointView.model_construct(
            name=name, traffic=dict(self.traffic), mirror_traffic=dict(self.mirror), deployments=deployments,
            created_at=datetime.now(UTC),
        )  # fmt: skip

    def update_endpoint(self, name: str, update: EndpointUpdate) -> OnlineEndpointView:
        with self.lock:
            if update.traffic is not None:
                self.traffic = dict(update.traffic)
            if update.mirror_traffic is not None:
                self.mirror = dict(update.mirror_traffic)
            self.updates.append((dict(self.traffic), dict(self.mirror)))
        return self.get_endpoint(name)

    def deployment_counters(self, endpoint: str, deployment: str) -> DeploymentStats:
        with self.lock:
            for _ in range(self.traffic.get(deployment, 0)):
                self.metrics.record(endpoint, deployment, 500 if self.failing else 200, 0.003)
            for _ in range(self.mirror.get(deployment, 0)):
                self.metrics.record_mirror(endpoint, deployment, not self.failing)
        return self.metrics.counters(endpoint, deployment)


def service(endpoints: FakeEndpoints) -> RolloutService:
    return RolloutService(type("Context", (), {"endpoints": endpoints})())  # type: ignore[arg-type]


def request(**fields: Any) -> RolloutRequest:
    return RolloutRequest.model_validate(
        {"deployment": "green", "steps": [10, 50, 100], "window_seconds": 0.3, "max_p99_ms": 1000, **fields}
    )


def finished(rollouts: RolloutService, name: str = "iris") -> RolloutView:
    thread = rollouts._rollouts[name].thread
    assert thread is not None
    thread.join(30)
    return rollouts.show(name)


def test_a_good_deployment_goes_through_the_mirror_and_every_step_to_100() -> None:
    endpoints = FakeEndpoints()
    rollouts = service(endpoints)
    rollouts.start("iris", request(mirror=20), started_by="alice")
    view = finished(rollouts)
    assert view.status == "succeeded" and view.started_by == "alice" and view.ended_at is not None
    assert [(w.phase, w.percent, w.state) for w in view.windows] == [
        ("mirror", 20, "passed"), ("traffic", 10, "passed"), ("traffic", 50, "passed"), ("traffic", 100, "passed"),
    ]  # fmt: skip
    assert all(w.requests > 0 and w.errors == 0 for w in view.windows)
    assert [traffic for traffic, _ in endpoints.updates] == [
        {"blue": 100},
        {"blue": 100},
        {"blue": 90, "green": 10},
        {"blue": 50, "green": 50},
        {"blue": 0, "green": 100},
    ]  # the mirror on, off, then the steps
    assert endpoints.updates[0][1] == {"green": 20} and endpoints.mirror == {}


def test_a_failing_deployment_is_rolled_back_to_the_split_and_mirror_it_started_from() -> None:
    endpoints = FakeEndpoints(failing=True, traffic={"blue": 100})
    rollouts = service(endpoints)
    rollouts.start("iris", request())
    view = finished(rollouts)
    assert view.status == "rolled_back" and [(w.percent, w.state) for w in view.windows] == [(10, "breached")]
    assert "error rate 100.00%" in (view.reason or "") and "10 % of live traffic" in (view.reason or "")
    assert endpoints.traffic == {"blue": 100} and endpoints.mirror == {}
    assert view.traffic == {"blue": 100}


def test_a_failing_mirror_is_rolled_back_before_any_live_traffic_moves() -> None:
    endpoints = FakeEndpoints(failing=True)
    rollouts = service(endpoints)
    rollouts.start("iris", request(mirror=10))
    view = finished(rollouts)
    assert view.status == "rolled_back" and [w.phase for w in view.windows] == ["mirror"]
    assert all(traffic == {"blue": 100} for traffic, _ in endpoints.updates)  # live traffic never moved
    assert endpoints.mirror == {}


def test_a_window_with_too_few_requests_does_not_pass() -> None:
    endpoints = FakeEndpoints()
    rollouts = service(endpoints)
    rollouts.start("iris", request(min_requests=1_000_000))
    view = finished(rollouts)
    assert view.status == "rolled_back" and "fewer than min_requests" in (view.reason or "")
    assert endpoints.traffic == {"blue": 100}


def test_one_rollout_at_a_time_and_a_cancel_or_a_server_stop_puts_the_traffic_back() -> None:
    endpoints = FakeEndpoints()
    rollouts = service(endpoints)
    with pytest.raises(NotFound, match="has had no rollout"):
        rollouts.show("iris")
    with pytest.raises(NotFound, match="'nowhere' not found"):
        rollouts.show("nowhere")
    rollouts.start("iris", request(window_seconds=600))
    with pytest.raises(Conflict, match="has a rollout of 'green' running"):
        rollouts.start("iris", request())
    view = rollouts.cancel("iris")
    assert view.status == "cancelled" and view.reason == "cancelled by a user" and endpoints.traffic == {"blue": 100}
    with pytest.raises(Conflict, match="no rollout running"):
        rollouts.cancel("iris")
    rollouts.start("iris", request(window_seconds=600))
    rollouts.close()
    assert rollouts.show("iris").status == "cancelled" and rollouts.show("iris").reason == "the server stopped"
    assert endpoints.traffic == {"blue": 100}
