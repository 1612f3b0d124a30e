"""Safe rollout end to end: a real server, real replicas, callers scoring through the endpoint all along, and
``kiln online-endpoint rollout`` as a user runs it. A good deployment reaches 100 %; a bad one (its scoring script
fails one request in three) is rolled back by the server on its own, in the mirror phase before any caller sees it,
or at its first step with the callers' failures confined to its share; bad requests change nothing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import WorkspaceServer
from tests.integration.rollout.helpers import IRIS, create_endpoint

pytestmark = pytest.mark.slow

SAMPLE = {"input_data": {"columns": list(IRIS.data.columns), "data": IRIS.data.iloc[:2].values.tolist()}}
WINDOW = "3s"  # short windows: the limits, not the window's length, decide these tests
ROLLED_BACK, REFUSED = 9, 2


class Callers:
    """Clients scoring through the endpoint until stopped, counting answers by (deployment, status)."""

    def __init__(self, url: str, key: str, threads: int = 2) -> None:
        self.url, self.key = url, key
        self.answers: Counter[tuple[str, int]] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._call, daemon=True) for _ in range(threads)]

    def _call(self) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {self.key}"}, timeout=30) as http:
            while not self._stop.is_set():
                response = http.post(self.url, json=SAMPLE)
                self.answers[(response.headers.get("azureml-model-deployment", "-"), response.status_code)] += 1

    def failures(self) -> Counter[str]:
        return Counter({deployment: n for (deployment, status), n in self.answers.items() if status != 200})

    def __enter__(self) -> Callers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


@pytest.fixture(scope="module")
def endpoint(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint 'rollout-ep': blue (100 %), green (the same model) and red (the failing script), all ready."""
    name = "rollout-ep"
    create_endpoint(workspace, tmp_path_factory.mktemp("rollout"), name, ("blue", "green", "red"))
    yield name
    with workspace.client() as client:
        client.online_endpoints.delete(name)


def scoring(workspace: WorkspaceServer, name: str) -> tuple[str, str]:
    with workspace.client() as client:
        return client.online_endpoints.get(name).scoring_uri, client.online_endpoints.get_keys(name).primary_key


def rollout(workspace: WorkspaceServer, name: str, deployment: str, *args: str):  # type: ignore[no-untyped-def]
    return workspace.cli(
        "online-endpoint", "rollout", "-n", name, "--deployment", deployment, "--max-error-rate", "0.05",
        "--max-p99-ms", "10000", "--window", WINDOW, *args,
    )  # fmt: skip


def test_bad_requests_are_refused_before_anything_changes(workspace: WorkspaceServer, endpoint: str) -> None:
    for args, message in (
        (("--steps", "10,50"), "must end at 100"),
        (("--steps", "50,10,100"), "must rise at every step"),
        (("--steps", "10,50,100", "--window", "0s"), "--window"),
        (("--steps", "10,100", "--mirror", "80"), "mirror"),
    ):
        refused = rollout(workspace, endpoint, "green", *args)
        assert refused.returncode == REFUSED and message in refused.stderr, refused.stderr
    missing = rollout(workspace, endpoint, "purple", "--steps", "10,100")
    assert missing.returncode == REFUSED and "has no deployment 'purple' (it has: blue, green, red)" in missing.stderr
    unknown = rollout(workspace, "no-such-endpoint", "green", "--steps", "10,100")
    assert unknown.returncode == 3
    with workspace.client() as client:
        assert client.online_endpoints.get(endpoint).traffic == {"blue": 100}


def test_a_bad_deployment_is_rolled_back_in_the_mirror_phase_before_any_caller_sees_it(
    workspace: WorkspaceServer, endpoint: str
) -> None:
    with Callers(*scoring(workspace, endpoint)) as callers:
        result = rollout(workspace, endpoint, "red", "--steps", "10,50,100", "--mirror", "50")
    assert result.returncode == ROLLED_BACK, result.stdout + result.stderr
    print(f"mirror phase: callers' failures {sum(callers.failures().values())} of {sum(callers.answers.values())}")
    assert callers.failures() == Counter() and callers.answers[("blue", 200)] > 0  # the copies' failures reach nobody
    assert "rolled_back" in result.stdout and "mirrored is over the limit" in result.stdout
    with workspace.client() as client:
        view = client.online_endpoints.get_rollout(endpoint)
        assert view.status == "rolled_back" and [w.phase for w in view.windows] == ["mirror"]
        assert view.windows[0].errors > 0 and view.windows[0].state == "breached"
        served = client.online_endpoints.get(endpoint)
        assert served.traffic.get("blue") == 100 and not any(served.mirror_traffic.values())


def test_a_bad_deployment_is_rolled_back_at_its_first_step_with_failures_confined_to_its_share(
    workspace: WorkspaceServer, endpoint: str
) -> None:
    with Callers(*scoring(workspace, endpoint)) as callers:
        result = rollout(workspace, endpoint, "red", "--steps", "10,50,100")
    assert result.returncode == ROLLED_BACK, result.stdout + result.stderr
    failures = callers.failures()
    red_answers = sum(n for (deployment, _), n in callers.answers.items() if deployment == "red")
    print(
        f"canary at 10 %: callers' failures {sum(failures.values())} of {sum(callers.answers.values())} requests, "
        f"all from red ({red_answers} answers from red)"
    )
    assert set(failures) == {"red"} and failures["red"] <= red_answers  # blue answered every other request
    assert callers.answers[("blue", 200)] > red_answers
    with workspace.client() as client:
        view = client.online_endpoints.get_rollout(endpoint)
        assert view.status == "rolled_back" and [(w.phase, w.percent, w.state) for w in view.windows] == [
            ("traffic", 10, "breached")
        ]
        assert "error rate" in (view.reason or "") and "10 % of live traffic" in (view.reason or "")
        assert client.online_endpoints.get(endpoint).traffic.get("blue") == 100


def test_a_good_deployment_is_mirrored_then_shifted_to_100_percent(workspace: WorkspaceServer, endpoint: str) -> None:
    with Callers(*scoring(workspace, endpoint)) as callers:
        result = rollout(workspace, endpoint, "green", "--steps", "10,50,100", "--mirror", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"good rollout: callers' failures {sum(callers.failures().values())} of {sum(callers.answers.values())}")
    assert callers.failures() == Counter() and callers.answers[("green", 200)] > 0
    for line in ("mirror 20 %", " 10 % live", " 50 % live", "100 % live", "succeeded"):
        assert line in result.stdout
    with workspace.client() as client:
        view = client.online_endpoints.get_rollout(endpoint)
        assert view.status == "succeeded" and view.traffic_before == {"blue": 100}
        assert [(w.phase, w.percent, w.state) for w in view.windows] == [
            ("mirror", 20, "passed"), ("traffic", 10, "passed"), ("traffic", 50, "passed"), ("traffic", 100, "passed"),
        ]  # fmt: skip
        assert all(w.requests > 0 and w.errors == 0 for w in view.windows)
        served = client.online_endpoints.get(endpoint)
        assert served.traffic.get("green") == 100 and not any(served.mirror_traffic.values())


def test_a_detached_rollout_goes_on_in_the_server_and_a_cancel_puts_the_traffic_back(
    workspace: WorkspaceServer, endpoint: str
) -> None:
    with workspace.client() as client:
        before = client.online_endpoints.get(endpoint).traffic
        started = workspace.cli(
            "online-endpoint", "rollout", "-n", endpoint, "--deployment", "blue", "--steps", "50,100", "--window",
            "10m", "--detach", "-o", "json",
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        assert client.online_endpoints.get_rollout(endpoint).status == "running"  # the CLI has ended
        second = workspace.cli("online-endpoint", "rollout", "-n", endpoint, "--deployment", "blue", "--steps", "100")
        assert second.returncode == 4 and "has a rollout of 'blue' running" in second.stderr
        cancelled = workspace.cli("online-endpoint", "rollout-cancel", "-n", endpoint)
        assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
        view = client.online_endpoints.get_rollout(endpoint)
        assert view.status == "cancelled" and view.reason == "cancelled by a user"
        assert client.online_endpoints.get(endpoint).traffic == before
