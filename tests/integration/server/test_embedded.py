"""The embedded default: the CLI and SDK start the local workspace on first use, and reuse it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil

from kiln import Client
from kiln.specs.views import JobStatus
from tests.conftest import REPO, cleanup_jobs, server_env, wait_for
from tests.lanes import server_fixture


def _kiln(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiln", *args],
        capture_output=True,
        text=True,
        env=server_env(home),
        timeout=300,
        cwd=REPO,
    )


@server_fixture
def embedded_home(tmp_path: Path) -> Iterator[Path]:
    """An empty KILN_HOME whose server the CLI starts on first use (from nothing: no template, no fixture server);
    stopped at the end."""
    home = tmp_path / "home"
    yield home
    _kiln(home, "server", "stop")
    cleanup_jobs(home)


def test_first_use_starts_the_server_in_the_background_and_later_calls_reuse_it(embedded_home: Path) -> None:
    home = embedded_home
    assert _kiln(home, "server", "status").returncode == 1
    first = _kiln(home, "job", "create", "-f", "examples/sklearn-iris/job.yml", "--set", "name=first-use", "-o", "json")
    assert first.returncode == 0, first.stderr
    assert "starting the kiln workspace" in first.stderr
    info = json.loads((home / "server.json").read_text())
    server = psutil.Process(info["pid"])
    assert server.is_running()

    status = _kiln(home, "server", "status")
    assert status.returncode == 0 and info["url"] in status.stdout

    os.environ.pop("KILN_URL", None)
    with Client(home=home) as client:  # the SDK finds the same server through KILN_HOME
        assert client.url == info["url"]
        job = client.jobs.get("first-use").wait(timeout=180)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert job.metrics["test_accuracy"] > 0.8
    assert json.loads((home / "server.json").read_text())["pid"] == info["pid"]  # reused, not restarted

    mlflow_pid = json.loads((home / "mlflow" / "process.json").read_text())["pid"]
    stopped = _kiln(home, "server", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    wait_for(lambda: not psutil.pid_exists(info["pid"]), timeout=30, what="the server to stop")
    wait_for(lambda: not psutil.pid_exists(mlflow_pid), timeout=30, what="MLflow to stop with it")
    assert not (home / "server.json").exists()
