"""A server killed with SIGKILL and restarted: jobs are re-adopted, finished or failed, never left running."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil

from kiln.specs.views import JobStatus
from tests.conftest import wait_for, write_job

SLEEPER = """\
import os, sys, time, pathlib
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
time.sleep(float(sys.argv[2]))
print("slept well", flush=True)
"""


def test_jobs_survive_or_end_cleanly_across_a_server_crash(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = make_server(local_concurrency="2")
    job_file = write_job(
        tmp_path,
        "command: python sleeper.py ${{inputs.pid_file}} ${{inputs.seconds}}\ncode: ./src\ninputs:\n  pid_file: x\n  seconds: 1\n",
        {"sleeper.py": SLEEPER},
    )
    pid_a, pid_b = tmp_path / "a.pid", tmp_path / "b.pid"
    with server.client() as client:
        survivor = client.jobs.create(job_file, overrides=[f"inputs.pid_file={pid_a}", "inputs.seconds=6"])
        victim = client.jobs.create(job_file, overrides=[f"inputs.pid_file={pid_b}", "inputs.seconds=300"])
        queued = client.jobs.create(job_file, overrides=[f"inputs.pid_file={tmp_path / 'c.pid'}", "inputs.seconds=0.1"])
        wait_for(lambda: pid_a.exists() and pid_b.exists(), what="both jobs to run")
        assert client.jobs.get(queued.name).status == JobStatus.QUEUED  # concurrency limit 2
    old_url = server.url
    mlflow_pid = json.loads((server.home / "mlflow" / "process.json").read_text())["pid"]

    server.kill()
    # MLflow's server is not orphaned: it dies with the workspace server
    wait_for(lambda: not _alive(mlflow_pid), timeout=30, what="MLflow's server to end with its parent")
    # one job's process dies while the server is down
    os.kill(int(pid_b.read_text()), signal.SIGKILL)

    server.start()
    assert server.url == old_url  # the same port again, so surviving jobs still reach it
    with server.client() as client:
        for job in (survivor, victim, queued):
            wait_for(
                lambda job=job: client.jobs.get(job.name).status.is_terminal, timeout=60, what=f"{job.name} to end"
            )
        assert client.jobs.get(survivor.name).status == JobStatus.COMPLETED
        assert "slept well" in "".join(client.jobs.logs(survivor.name))
        failed = client.jobs.get(victim.name)
        assert failed.status == JobStatus.FAILED
        assert failed.view.failure_reason
        assert client.jobs.get(queued.name).status == JobStatus.COMPLETED
        assert client.jobs.list(status=JobStatus.RUNNING) == []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_mlflow_is_restarted_when_it_dies(make_server) -> None:  # type: ignore[no-untyped-def]
    import httpx

    server = make_server()
    state = server.home / "mlflow" / "process.json"
    first = json.loads(state.read_text())["pid"]
    os.killpg(first, signal.SIGKILL)
    wait_for(lambda: json.loads(state.read_text())["pid"] != first, timeout=30, what="a new MLflow process")
    headers = {"Authorization": f"Bearer {server.token}"}

    def answers() -> bool:
        response = httpx.post(
            f"{server.url}/mlflow/api/2.0/mlflow/experiments/search", json={"max_results": 5}, headers=headers
        )
        return response.status_code == 200

    wait_for(answers, timeout=60, what="MLflow to answer through /mlflow again")


def test_a_second_server_on_the_same_home_is_refused(make_server) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    server = make_server()
    second = subprocess.run(
        [sys.executable, "-m", "kiln", "server", "run", "--home", str(server.home)],
        capture_output=True, text=True, env=server.env, timeout=60,
    )  # fmt: skip
    assert second.returncode != 0
    assert second.stderr.startswith("error: a workspace server is already running") and server.url in second.stderr
    with server.client() as client:
        assert client.jobs.list() == []  # the first one is untouched
