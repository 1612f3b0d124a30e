"""A rollout cut short by its server's crash (SIGKILL, in the middle of a step's window): the restarted server puts
the endpoint's traffic back as it was before the rollout and records the rollout cancelled with the reason, which
``kiln online-endpoint rollout-show`` and the SDK read; the endpoint is free for the next rollout. One cut short by
a clean stop (SIGTERM) is put back by the stopping server, and the record of it is there after the restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import WorkspaceServer, server_env, stop_replicas, wait_for
from tests.integration.rollout.helpers import create_endpoint
from tests.lanes import server_fixture

pytestmark = pytest.mark.slow

REASON = "the workspace server stopped while the rollout ran (at step 10 %); its traffic was put back"


@server_fixture(scope="module")
def crash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """A server of this module's own: its test kills it (the shared one serves the other rollout tests)."""
    home = tmp_path_factory.mktemp("kiln-rollout-crash-home")
    server = WorkspaceServer(home, server_env(home)).start()
    yield server
    server.stop()
    stop_replicas(home)


def test_a_rollout_cut_short_by_a_crash_or_a_clean_stop_is_rolled_back_and_recorded(
    crash_server: WorkspaceServer, tmp_path: Path
) -> None:
    server, name = crash_server, "crash-ep"
    create_endpoint(server, tmp_path, name, ("blue", "green"))
    with server.client() as client:
        client.online_endpoints.rollout(name, "green", [10, 100], window_seconds=3600)  # an hour at 10 %
        running = wait_for(
            lambda: (view := client.online_endpoints.get_rollout(name)).windows and view, what="the first step"
        )
        assert running.status == "running" and [(w.percent, w.state) for w in running.windows] == [(10, "watching")]
        assert client.online_endpoints.get(name).traffic == {"blue": 90, "green": 10}

    server.kill()
    server.start()

    shown = server.cli("online-endpoint", "rollout-show", "-n", name, "-o", "json", check=True)
    recorded = json.loads(shown.stdout)
    assert recorded["status"] == "cancelled" and recorded["reason"] == REASON, recorded
    assert recorded["traffic"] == recorded["traffic_before"] == {"blue": 100}
    assert [(w["percent"], w["state"]) for w in recorded["windows"]] == [(10, "cancelled")]
    table = server.cli("online-endpoint", "rollout-show", "-n", name, check=True)
    assert "cancelled" in table.stdout and "its traffic was put back" in table.stdout
    with server.client() as client:
        assert client.online_endpoints.get(name).traffic == {"blue": 100}
        assert client.online_endpoints.get_rollout(name).reason == REASON
        client.online_endpoints.rollout(name, "green", [50, 100], window_seconds=1)  # not refused: none runs
        done = client.online_endpoints.wait_rollout(name, poll_seconds=0.2)
        assert done.status == "succeeded" and client.online_endpoints.get(name).traffic == {"blue": 0, "green": 100}
        client.online_endpoints.rollout(name, "blue", [10, 100], window_seconds=3600)
        wait_for(lambda: client.online_endpoints.get_rollout(name).windows, what="the first step back to blue")
        assert client.online_endpoints.get(name).traffic == {"blue": 10, "green": 90}

    stopping = time.monotonic()
    server.stop()  # SIGTERM: the server puts the traffic back itself before it ends
    print(f"clean stop with a rollout running: {time.monotonic() - stopping:.1f} s")
    server.start()
    with server.client() as client:
        stopped = client.online_endpoints.get_rollout(name)
        assert stopped.deployment == "blue" and stopped.status == "cancelled", stopped
        assert stopped.reason == "the workspace server stopped" and stopped.ended_at is not None
        assert client.online_endpoints.get(name).traffic == {"blue": 0, "green": 100}
