"""A server killed with SIGKILL and restarted: jobs are re-adopted, finished or failed, never left running;
MLflow's server restarted when it dies; a second server on the same home refused."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, cleanup_jobs, job_processes, server_env, wait_for, write_job
from tests.conftest import job_file as job_file_in
from tests.lanes import server_fixture

WAITER = """\
import sys, time, pathlib
print("waiting for", sys.argv[1], flush=True)
while sys.argv[1] != "nothing" and not pathlib.Path("release").exists():  # ./release, written by the test
    time.sleep(0.05)
print("slept well", flush=True)
"""


@server_fixture(scope="module")
def crash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """A server of this module's own: its tests kill it, and its MLflow."""
    home = tmp_path_factory.mktemp("kiln-crash-home")
    server = WorkspaceServer(home, server_env(home, local_concurrency="2")).start()
    yield server
    server.stop()
    cleanup_jobs(home)


def test_jobs_survive_or_end_cleanly_across_a_server_crash(crash_server: WorkspaceServer, tmp_path: Path) -> None:
    server = crash_server
    job_file = write_job(
        tmp_path,
        "command: python waiter.py ${{inputs.wait}}\ncode: ./src\ninputs:\n  wait: release\n",
        {"waiter.py": WAITER},
    )

    def waiter_process(job_id: str) -> psutil.Process | None:
        """The job's command as this machine sees it (in its sandbox it has another pid)."""
        return next((p for p in job_processes(server.home, job_id) if "waiter.py" in p.cmdline()), None)

    with server.client() as client:
        survivor = client.jobs.create(job_file)
        victim = client.jobs.create(job_file)
        queued = client.jobs.create(job_file, overrides=["inputs.wait=nothing"])  # ends as soon as it runs
        process_a, process_b = wait_for(
            lambda: (a := waiter_process(survivor.id)) and (b := waiter_process(victim.id)) and (a, b),
            what="both jobs to run",
        )
        assert client.jobs.get(queued.name).status == JobStatus.QUEUED  # concurrency limit 2
        # a command runs a moment before the server records its job running
        wait_for(lambda: client.jobs.get(survivor.name).status == JobStatus.RUNNING, what="the survivor to run")
        started_at = client.jobs.get(survivor.name).view.started_at
    old_url = server.url
    mlflow_pid = json.loads((server.home / "mlflow" / "process.json").read_text())["pid"]

    server.kill()
    # MLflow's server is not orphaned: it dies with the workspace server
    wait_for(lambda: not _alive(mlflow_pid), timeout=30, what="MLflow's server to end with its parent")
    # one job's process dies while the server is down; the other waits for its release file, however long this takes
    os.kill(process_b.pid, signal.SIGKILL)

    server.start()
    assert server.url == old_url  # the same port again, so surviving jobs still reach it
    with server.client() as client:
        # re-adopted while still running: the same process, neither restarted nor ended
        adopted = client.jobs.get(survivor.name).view
        assert adopted.status == JobStatus.RUNNING and adopted.started_at == started_at
        assert _alive(process_a.pid)
        job_file_in(server.home, survivor.id, "release").touch()
        for job in (survivor, victim, queued):
            wait_for(
                lambda job=job: client.jobs.get(job.name).status.is_terminal, timeout=60, what=f"{job.name} to end"
            )
        done = client.jobs.get(survivor.name).view
        assert done.status == JobStatus.COMPLETED and done.exit_code == 0
        log = "".join(client.jobs.logs(survivor.name))
        assert "waiting for release" in log and "slept well" in log  # lines from before and after the crash
        failed = client.jobs.get(victim.name).view
        # its command's end was recorded by the job's own supervisor while the server was down
        assert failed.status == JobStatus.FAILED and failed.exit_code == -signal.SIGKILL
        assert (failed.failure_reason or "").startswith("the command was killed by SIGKILL")
        assert client.jobs.get(queued.name).status == JobStatus.COMPLETED
        assert client.jobs.list(status=JobStatus.RUNNING) == []


def test_a_job_launched_by_a_server_that_died_before_recording_it_running_is_re_adopted(
    crash_server: WorkspaceServer, tmp_path: Path
) -> None:
    """The server records a launched job as running a moment after its process starts: a crash in that moment
    leaves a preparing job with a live process, which is the job's (its pid is recorded), not a stranger's."""
    server = crash_server
    job_file = write_job(tmp_path, "command: python waiter.py release\ncode: ./src\n", {"waiter.py": WAITER})
    with server.client() as client:
        job = client.jobs.create(job_file)
        wait_for(lambda: client.jobs.get(job.name).status == JobStatus.RUNNING, what="the job to run")
        process = wait_for(
            lambda: next((p for p in job_processes(server.home, job.id) if "waiter.py" in p.cmdline()), None),
            what="the job's command",
        )
    server.kill()
    with sqlite3.connect(server.home / "kiln.db") as db:  # as the crash left it: launched, not yet said so
        db.execute("UPDATE jobs SET status = 'preparing', started_at = NULL WHERE id = ?", (job.id,))
    server.start()
    with server.client() as client:
        wait_for(lambda: client.jobs.get(job.name).status == JobStatus.RUNNING, timeout=30, what="it to be running")
        assert _alive(process.pid)  # the same process: not stopped and started over
        job_file_in(server.home, job.id, "release").touch()
        wait_for(lambda: client.jobs.get(job.name).status.is_terminal, timeout=60, what="the job to end")
        assert client.jobs.get(job.name).status == JobStatus.COMPLETED
        log = "".join(client.jobs.logs(job.name))
    assert log.count("waiting for release") == 1 and "slept well" in log


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_mlflow_is_restarted_when_it_dies(crash_server: WorkspaceServer) -> None:
    import httpx

    server = crash_server
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


def test_a_second_server_on_the_same_home_is_refused(workspace: WorkspaceServer) -> None:
    import subprocess
    import sys

    info = (workspace.home / "server.json").read_text()
    with workspace.client() as client:
        before = [job.view for job in client.jobs.list(limit=10_000)]
    second = subprocess.run(
        [sys.executable, "-m", "kiln", "server", "run", "--home", str(workspace.home)],
        capture_output=True, text=True, env=workspace.env, timeout=60,
    )  # fmt: skip
    assert second.returncode != 0
    assert second.stderr.startswith("error: a workspace server is already running") and workspace.url in second.stderr
    # the first one is untouched: the same process, answering, with the same jobs
    assert (workspace.home / "server.json").read_text() == info and workspace.process.poll() is None
    with workspace.client() as client:
        assert [job.view for job in client.jobs.list(limit=10_000)] == before
