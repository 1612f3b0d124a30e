"""A server's start: it answers as soon as its own parts are up, with MLflow's child starting beside it.

Real servers started by ``kiln server start``; MLflow's child held back at its start (a ``sitecustomize`` on
its path waits for a file the test writes) or failing to start (a store MLflow cannot open).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from kiln import Client
from kiln.errors import Unavailable
from kiln.specs.views import JobStatus
from tests.conftest import REPO, cleanup_jobs, server_env, wait_for
from tests.lanes import server_fixture

HOLD_MLFLOW = """
import os, sys, time
release = os.environ.get("TEST_MLFLOW_RELEASE_FILE")
if release and "--artifacts-destination" in sys.argv:  # MLflow's child (kiln.tracking.mlflow_child), nothing else
    deadline = time.monotonic() + 120
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
"""
JOB = {"type": "command", "command": "echo started", "experiment_name": "start-test"}


def _kiln(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiln", *args], capture_output=True, text=True, env=env, timeout=300, cwd=REPO
    )


@server_fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """An empty KILN_HOME; its server (started by the test) stopped at the end."""
    home = tmp_path / "home"
    yield home
    _kiln(home, server_env(home), "server", "stop")
    cleanup_jobs(home)


def _health(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/health", timeout=10).json())


def _started(home: Path, env: dict[str, str]) -> tuple[str, str]:
    started = _kiln(home, env, "server", "start")
    assert started.returncode == 0, started.stderr
    info = json.loads((home / "server.json").read_text())
    return info["url"], (home / "token").read_text().strip()


def test_the_server_answers_while_mlflow_starts_and_what_needs_mlflow_waits_for_it(home: Path, tmp_path: Path) -> None:
    held = tmp_path / "hold-mlflow"
    held.mkdir()
    (held / "sitecustomize.py").write_text(HOLD_MLFLOW)
    release = tmp_path / "release-mlflow"
    env = server_env(home, gpus="")
    env["PYTHONPATH"] = f"{held}:{env.get('PYTHONPATH', '')}"
    env["TEST_MLFLOW_RELEASE_FILE"] = str(release)

    url, token = _started(home, env)
    assert _health(url) == {"status": "ok", "version": _health(url)["version"], "mlflow": "starting"}
    with Client(url=url, token=token) as client:
        assert client.jobs.list() == []  # the workspace's own parts answer

        answers: dict[str, Any] = {}

        def search_experiments() -> None:
            answers["mlflow"] = httpx.get(
                f"{url}/mlflow/api/2.0/mlflow/experiments/search",
                params={"max_results": 10}, headers={"Authorization": f"Bearer {token}"}, timeout=120,
            )  # fmt: skip

        def submit() -> None:
            answers["job"] = client.jobs.create(JOB)

        waiting = [threading.Thread(target=search_experiments), threading.Thread(target=submit)]
        for thread in waiting:
            thread.start()
        waiting[0].join(1.0)
        assert not answers and _health(url)["mlflow"] == "starting"  # both wait for MLflow
        release.touch()
        for thread in waiting:
            thread.join(120)
        assert answers["mlflow"].status_code == 200, answers["mlflow"].text
        assert _health(url)["mlflow"] == "ready"
        job = answers["job"].wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        names = {e["name"] for e in answers["mlflow"].json().get("experiments", [])}
        assert "Default" in names


def test_mlflow_failing_to_start_is_a_clear_503_and_the_rest_of_the_workspace_works(home: Path) -> None:
    # a store MLflow cannot open (no MySQL driver here): its child exits at start
    env = server_env(home, gpus="", mlflow_backend_store_uri="mysql://kiln@127.0.0.1:1/none")
    url, token = _started(home, env)
    wait_for(lambda: _health(url)["mlflow"] == "failed", timeout=120, what="MLflow's start to fail")
    assert _health(url)["status"] == "ok"
    log = home / "mlflow" / "mlflow-server.log"
    expected = f"MLflow's tracking server failed to start; see {log} on the workspace server"

    answer = httpx.get(f"{url}/mlflow/api/2.0/mlflow/experiments/search", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503
    assert answer.json() == {"error": {"type": "Unavailable", "message": expected}}

    with Client(url=url, token=token) as client:
        assert client.jobs.list() == []
        try:
            client.jobs.create(JOB)
        except Unavailable as exc:
            assert exc.message == expected
        else:
            raise AssertionError("a job was submitted without MLflow")

    job_file = home / "job.yml"
    job_file.write_text(json.dumps(JOB))  # JSON is YAML
    created = _kiln(home, env | {"KILN_URL": url, "KILN_TOKEN": token}, "job", "create", "-f", str(job_file))
    assert created.returncode == Unavailable.exit_code and "Traceback" not in created.stderr
    assert expected in " ".join(created.stderr.split())  # as the CLI wraps it
    assert "MLflow's tracking server exited at start" in (home / "server.log").read_text()  # the operator's detail
