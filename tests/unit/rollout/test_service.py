"""The rollout's state machine on a fake endpoint (no server, no replicas): each reading of the counters adds the
requests the deployment's current share would get, failing or not; windows of a few tenths of a second. Its row is
in a real SQLite database (``kiln.rollout.store``); two services on that one file, each with its own server id,
stand for two servers on one database (team mode)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kiln.errors import Conflict, NotFound
from kiln.rollout import service as rollout_service
from kiln.rollout.api import RolloutRequest, RolloutView
from kiln.rollout.service import RolloutService
from kiln.rollout.store import RolloutRepository
from kiln.serving.control.gateway_metrics import DeploymentStats, GatewayMetrics
from kiln.specs.endpoint import DeploymentState, EndpointUpdate, OnlineDeploymentView, OnlineEndpointView
from kiln.store.database import create_database_engine, migrate, session_factory


class Crash(BaseException):
    """What a SIGKILL does to the rollout's thread: it ends on the spot, neither rolling back nor recording."""


class FakeEndpoints:
    """One endpoint 'iris' with blue and green; green fails every request when ``failing``."""

    def __init__(self, failing: bool = False, traffic: dict[str, int] | None = None) -> None:
        self.traffic, self.mirror = traffic or {"blue": 100}, {}
        self.failing, self.updates = failing, []
        self.metrics = GatewayMetrics()
        self.lock = threading.Lock()
        self.created_at = datetime.now(UTC) - timedelta(hours=1)
        self.exists, self.crashed = True, False

    def get_endpoint(self, name: str) -> OnlineEndpointView:
        if name != "iris" or not self.exists:
            raise NotFound(f"online endpoint '{name}' not found")
        deployments = [
            OnlineDeploymentView.model_construct(name=n, state=DeploymentState.SUCCEEDED) for n in ("blue", "green")
        ]
        return OnlineEndpointView.model_construct(
            name=name, traffic=dict(self.traffic), mirror_traffic=dict(self.mirror), deployments=deployments,
            created_at=self.created_at,
        )  # fmt: skip

    def update_endpoint(self, name: str, update: EndpointUpdate) -> OnlineEndpointView:
        self.get_endpoint(name)
        with self.lock:
            if update.traffic is not None:
                self.traffic = dict(update.traffic)
            if update.mirror_traffic is not None:
                self.mirror = dict(update.mirror_traffic)
            self.updates.append((dict(self.traffic), dict(self.mirror)))
        return self.get_endpoint(name)

    def deployment_counters(self, endpoint: str, deployment: str) -> DeploymentStats:
        if self.crashed:
            raise Crash()
        with self.lock:
            for _ in range(self.traffic.get(deployment, 0)):
                self.metrics.record(endpoint, deployment, 500 if self.failing else 200, 0.003)
            for _ in range(self.mirror.get(deployment, 0)):
                self.metrics.record_mirror(endpoint, deployment, not self.failing)
        return self.metrics.counters(endpoint, deployment)


class CountingRepository(RolloutRepository):
    """The real repository, counting the rows it writes."""

    saves = 0

    def save(self, *args: Any, **kwargs: Any) -> bool:
        self.saves += 1
        return super().save(*args, **kwargs)


@pytest.fixture
def repository(tmp_path: Path) -> CountingRepository:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    migrate(engine)
    return CountingRepository(session_factory(engine))


def service(endpoints: FakeEndpoints, repository: RolloutRepository, server_id: str = "server-a") -> RolloutService:
    context = type("Context", (), {"endpoints": endpoints})()
    return RolloutService(context, repository, server_id)


def request(**fields: Any) -> RolloutRequest:
    return RolloutRequest.model_validate(
        {"deployment": "green", "steps": [10, 50, 100], "window_seconds": 0.3, "max_p99_ms": 1000, **fields}
    )


def finished(rollouts: RolloutService, name: str = "iris") -> RolloutView:
    thread = rollouts._rollouts[name].thread
    assert thread is not None
    thread.join(30)
    return rollouts.show(name)


def watching(rollouts: RolloutService, percent: int, name: str = "iris") -> RolloutView:
    """The rollout once its row (what every server sees) says the window at ``percent`` is watched."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = rollouts._repository.get(name)
        windows = row.view["windows"] if row is not None else []
        if windows and windows[-1]["percent"] == percent and windows[-1]["state"] == "watching":
            return rollouts.show(name)
        time.sleep(0.02)
    raise AssertionError(f"the window at {percent} % was not recorded")


def test_a_good_deployment_goes_through_the_mirror_and_every_step_to_100(repository: CountingRepository) -> None:
    endpoints = FakeEndpoints()
    rollouts = service(endpoints, repository)
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


def test_a_failing_deployment_is_rolled_back_to_the_split_and_mirror_it_started_from(
    repository: CountingRepository,
) -> None:
    endpoints = FakeEndpoints(failing=True, traffic={"blue": 100})
    rollouts = service(endpoints, repository)
    rollouts.start("iris", request())
    view = finished(rollouts)
    assert view.status == "rolled_back" and [(w.percent, w.state) for w in view.windows] == [(10, "breached")]
    assert "error rate 100.00%" in (view.reason or "") and "10 % of live traffic" in (view.reason or "")
    assert endpoints.traffic == {"blue": 100} and endpoints.mirror == {}
    assert view.traffic == {"blue": 100}


def test_a_failing_mirror_is_rolled_back_before_any_live_traffic_moves(repository: CountingRepository) -> None:
    endpoints = FakeEndpoints(failing=True)
    rollouts = service(endpoints, repository)
    rollouts.start("iris", request(mirror=10))
    view = finished(rollouts)
    assert view.status == "rolled_back" and [w.phase for w in view.windows] == ["mirror"]
    assert all(traffic == {"blue": 100} for traffic, _ in endpoints.updates)  # live traffic never moved
    assert endpoints.mirror == {}


def test_a_window_with_too_few_requests_does_not_pass(repository: CountingRepository) -> None:
    endpoints = FakeEndpoints()
    rollouts = service(endpoints, repository)
    rollouts.start("iris", request(min_requests=1_000_000))
    view = finished(rollouts)
    assert view.status == "rolled_back" and "fewer than min_requests" in (view.reason or "")
    assert endpoints.traffic == {"blue": 100}


def test_one_rollout_at_a_time_and_a_cancel_or_a_server_stop_puts_the_traffic_back(
    repository: CountingRepository,
) -> None:
    endpoints = FakeEndpoints()
    rollouts = service(endpoints, repository)
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
    assert endpoints.traffic == {"blue": 100}
    restarted = service(endpoints, repository)  # the same server started again: its row says what happened
    view = restarted.show("iris")
    assert view.status == "cancelled" and view.reason == "the workspace server stopped" and view.ended_at is not None


def test_the_row_is_written_at_each_window_boundary_and_at_the_end_not_at_each_tick(
    repository: CountingRepository,
) -> None:
    rollouts = service(FakeEndpoints(), repository)
    rollouts.start("iris", request(mirror=20, window_seconds=0.6))
    live = finished(rollouts)
    assert repository.saves == 2 * len(live.windows) + 1  # each window's start and end, then the outcome
    elsewhere = service(FakeEndpoints(), repository, "server-b").show("iris")  # another server reads the row
    assert elsewhere == live and elsewhere.status == "succeeded"


def test_a_rollout_another_server_runs_is_seen_and_refused_there_and_a_cancel_there_stops_it_in_a_second(
    repository: CountingRepository,
) -> None:
    endpoints = FakeEndpoints()
    first, second = service(endpoints, repository, "server-a"), service(endpoints, repository, "server-b")
    first.start("iris", request(window_seconds=600))
    seen = watching(first, 10)
    assert second.show("iris").model_dump(exclude={"windows"}) == seen.model_dump(exclude={"windows"})
    assert second.show("iris").windows[-1].state == "watching" and endpoints.traffic == {"blue": 90, "green": 10}
    with pytest.raises(Conflict, match="has a rollout of 'green' running; wait for it or stop it"):
        second.start("iris", request())
    asked = time.monotonic()
    view = second.cancel("iris")  # the first server reads the flag within a second and rolls back
    took = time.monotonic() - asked
    assert took < 1.0 + 1.0, f"the cancel through the other server took {took:.2f} s"
    assert view.status == "cancelled" and view.reason == "cancelled by a user" and view.cancel_requested
    assert endpoints.traffic == {"blue": 100} and first.show("iris") == view
    with pytest.raises(Conflict, match="no rollout running"):
        second.cancel("iris")
    second.start("iris", request())  # the endpoint is free for the next rollout, through any server
    assert finished(second).status == "succeeded" and first.show("iris").status == "succeeded"


def test_a_cancel_through_another_server_while_the_one_running_it_is_down_is_done_when_it_is_back(
    repository: CountingRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = FakeEndpoints()
    first = service(endpoints, repository, "server-a")
    first.start("iris", request(window_seconds=600))
    watching(first, 10)
    crash(first, endpoints, monkeypatch)
    monkeypatch.setattr(rollout_service, "CANCEL_WAIT_SECONDS", 0.5)
    view = service(endpoints, repository, "server-b").cancel("iris")
    assert view.status == "running" and view.cancel_requested  # nobody runs it: the flag waits for its server
    assert endpoints.traffic == {"blue": 90, "green": 10}
    back = service(endpoints, repository, "server-a").show("iris")
    assert back.status == "cancelled" and endpoints.traffic == {"blue": 100}


def test_a_server_that_died_mid_rollout_puts_the_traffic_back_when_it_starts_again(
    repository: CountingRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = FakeEndpoints(traffic={"blue": 60, "red": 40})
    first = service(endpoints, repository, "server-a")
    first.start("iris", request(steps=[10, 100], window_seconds=600))
    watching(first, 10)
    crash(first, endpoints, monkeypatch)
    assert endpoints.traffic == {"blue": 54, "red": 36, "green": 10}
    other = service(endpoints, repository, "server-b")  # another server's start leaves server-a's rollout alone
    assert other.show("iris").status == "running" and endpoints.traffic["green"] == 10
    restarted = service(endpoints, repository, "server-a")
    assert endpoints.traffic == {"blue": 60, "red": 40} and endpoints.mirror == {}
    view = restarted.show("iris")
    assert view.status == "cancelled" and view.traffic == {"blue": 60, "red": 40} and view.ended_at is not None
    assert view.reason == (
        "the workspace server stopped while the rollout ran (at step 10 %); its traffic was put back"
    )
    assert [(w.percent, w.state) for w in view.windows] == [(10, "cancelled")]
    assert other.show("iris") == view


def test_a_rollout_left_running_in_its_mirror_phase_of_a_deleted_endpoint_says_so(
    repository: CountingRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = FakeEndpoints()
    first = service(endpoints, repository, "server-a")
    first.start("iris", request(mirror=30, window_seconds=600))
    watching(first, 30)
    crash(first, endpoints, monkeypatch)
    endpoints.exists = False
    service(endpoints, repository, "server-a")
    row = repository.get("iris")
    assert row is not None and row.status == "cancelled"
    assert row.view["reason"] == (
        "the workspace server stopped while the rollout ran (in its mirror phase, 30 % mirrored); its traffic could "
        "not be put back: online endpoint 'iris' not found"
    )


def test_one_of_two_servers_starting_at_once_runs_it_and_an_endpoint_made_again_has_no_rollout(
    repository: CountingRepository,
) -> None:
    endpoints = FakeEndpoints()
    servers = [service(endpoints, repository, f"server-{i}") for i in range(4)]
    barrier, outcomes = threading.Barrier(len(servers)), list[str]()

    def start(rollouts: RolloutService) -> None:
        barrier.wait()
        try:
            outcomes.append(rollouts.start("iris", request(window_seconds=600)).status)
        except Conflict as error:
            outcomes.append(error.message)

    threads = [threading.Thread(target=start, args=(rollouts,)) for rollouts in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes)[-1] == "running" and outcomes.count("running") == 1, outcomes
    assert all("has a rollout" in outcome for outcome in outcomes if outcome != "running")
    servers[0].cancel("iris")
    assert endpoints.traffic == {"blue": 100}
    endpoints.created_at = datetime.now(UTC)  # deleted and created again since
    with pytest.raises(NotFound, match="has had no rollout"):
        servers[0].show("iris")


def crash(rollouts: RolloutService, endpoints: FakeEndpoints, monkeypatch: pytest.MonkeyPatch) -> None:
    """End the rollout's thread as a SIGKILL of its server would: no rollback, no last row."""
    monkeypatch.setattr(threading, "excepthook", lambda _args: None)
    endpoints.crashed = True
    thread = rollouts._rollouts["iris"].thread
    assert thread is not None
    thread.join(30)
    endpoints.crashed = False
