"""``/mlflow`` while MLflow's child starts beside the server (kiln.server.mlflow_gate), and ``/health``'s word on it:
a real ASGI app behind the gate, a stand-in for the supervisor whose state the test moves."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest

from kiln.errors import Unavailable
from kiln.server.health import HealthCheck
from kiln.server.mlflow_gate import WaitForMlflow
from kiln.tracking.mlflow_server import STILL_STARTING


class StartingMlflow:
    """The supervisor as the gate sees it: ``starting`` until the test says ``ready`` or ``failed``."""

    def __init__(self) -> None:
        self.state = "starting"

    def wait_ready(self, timeout: float) -> None:
        if self.state == "failed":
            raise Unavailable("MLflow's tracking server failed to start; see /home/mlflow/mlflow-server.log")


async def mlflow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """What answers behind the gate: the path it was asked."""
    body = json.dumps({"path": scope["path"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def ask(app: Any, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kiln") as client:
            return await client.get(path)

    return asyncio.run(go())


def test_a_request_to_mlflow_waits_while_it_starts_then_goes_through() -> None:
    mlflow = StartingMlflow()
    gate = WaitForMlflow(mlflow_app, lambda: mlflow, wait=30)
    threading.Timer(0.3, lambda: setattr(mlflow, "state", "ready")).start()
    started = time.monotonic()
    answer = ask(gate, "/mlflow/api/2.0/mlflow/experiments/search")
    assert answer.status_code == 200 and answer.json() == {"path": "/mlflow/api/2.0/mlflow/experiments/search"}
    assert 0.25 <= time.monotonic() - started < 10  # it waited for MLflow, not for its bound


def test_mlflow_still_starting_after_the_bound_is_a_503_that_says_so() -> None:
    gate = WaitForMlflow(mlflow_app, lambda: StartingMlflow(), wait=0.2)
    answer = ask(gate, "/mlflow/api/2.0/mlflow/runs/get")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json() == {"error": {"type": "Unavailable", "message": STILL_STARTING}}


def test_a_workspace_still_opening_counts_as_mlflow_starting() -> None:
    gate = WaitForMlflow(mlflow_app, lambda: None, wait=0.1)
    assert ask(gate, "/mlflow").json()["error"]["message"] == STILL_STARTING


def test_mlflow_that_failed_to_start_is_a_503_naming_where_to_look_at_once() -> None:
    mlflow = StartingMlflow()
    mlflow.state = "failed"
    gate = WaitForMlflow(mlflow_app, lambda: mlflow, wait=30)
    started = time.monotonic()
    answer = ask(gate, "/mlflow/ajax-api/2.0/mlflow/experiments/search")
    assert time.monotonic() - started < 5  # no wait: it will not start
    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == (
        "MLflow's tracking server failed to start; see /home/mlflow/mlflow-server.log"
    )


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/mlflowx", "/health", "/"])
def test_other_paths_never_wait_for_mlflow(path: str) -> None:
    gate = WaitForMlflow(mlflow_app, lambda: StartingMlflow(), wait=30)
    started = time.monotonic()
    assert ask(gate, path).json() == {"path": path}
    assert time.monotonic() - started < 5


def test_health_is_ok_with_kilns_parts_up_and_says_where_mlflow_is() -> None:
    mlflow = StartingMlflow()
    health = HealthCheck(mlflow_app, ready=lambda: True, mlflow_state=lambda: mlflow.state)
    for state in ("starting", "ready", "failed"):
        mlflow.state = state
        answer = ask(health, "/health")
        assert answer.status_code == 200
        assert answer.json()["status"] == "ok" and answer.json()["mlflow"] == state
