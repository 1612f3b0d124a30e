"""A job on local compute whose script calls plain ``ray.init()`` (no kiln helper) gets a private Ray instance
(DESIGN.md §8): every Ray process listens on loopback only, usage statistics are off, its CPUs are the ones the
job may run on, its session folder is inside the job's folder, and no Ray process (nor the short link to that
folder) is left once the job completes, is canceled or times out (checked in the process list).

Run inside a loopback-only network namespace, as every test that starts Ray.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import psutil
import pytest

from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, wait_for, write_job

LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}
MARK = "RAY_TEST_MARK"

PLAIN_RAY = """\
import json, os, sys
import psutil, ray
from ray._common.usage import usage_lib

ray.init()

@ray.remote
def where():
    return os.getpid()

ray.get(where.remote())  # a worker process too
me = psutil.Process()
listening = set()
for process in [me, *me.children(recursive=True)]:
    try:
        listening |= {c.laddr.ip for c in process.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    except psutil.Error:
        pass
node = ray._private.worker._global_node
print("RAY_FACTS " + json.dumps({
    "cpus": ray.cluster_resources()["CPU"],
    "listening": sorted(listening),
    "usage_stats": usage_lib.usage_stats_enabled(),
    "temp_dir": node.get_temp_dir_path(),
    "session": os.path.realpath(node.get_session_dir_path()),
    "job_folder": os.path.dirname(os.getcwd()),
}), flush=True)
if len(sys.argv) > 1:  # wait to be canceled or timed out
    import time
    time.sleep(600)
"""


def _marked_processes(mark: str) -> list[psutil.Process]:
    """Processes whose environment carries ``mark`` (a job's variable, inherited by every Ray process it starts)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARK) == mark:
                found.append(process)
        except psutil.Error:
            pass
    return found


def _job_file(tmp_path: Path, mark: str, command: str, timeout: int) -> Path:
    return write_job(
        tmp_path,
        f"command: {command}\ncode: ./src\nlimits:\n  timeout: {timeout}\nenvironment_variables:\n  {MARK}: {mark}\n",
        {"plain_ray.py": PLAIN_RAY},
    )


def test_plain_ray_init_in_a_job_is_private_bounded_and_gone_when_the_job_ends(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    mark = uuid.uuid4().hex
    # the job may run on one CPU (of the machine's two or more): its Ray instance offers one
    job_file = _job_file(tmp_path, mark, "taskset -c 0 python plain_ray.py", timeout=600)
    result = workspace.cli("job", "create", "-f", str(job_file), "--stream", "-o", "json")
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "completed", result.stdout[-6000:] + result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RAY_FACTS "))
    facts = json.loads(line.removeprefix("RAY_FACTS "))
    assert facts["listening"] and set(facts["listening"]) <= LOOPBACK, facts
    assert facts["usage_stats"] is False
    assert facts["cpus"] == 1.0
    assert facts["session"].startswith(facts["job_folder"] + os.sep), facts  # in the job's folder (its tmp)
    # nothing left: no Ray process, no short link to the job's folder (nor the folder: it goes with the job)
    wait_for(lambda: not _marked_processes(mark), timeout=30, what="every Ray process of the job to end")
    assert not os.path.lexists(facts["temp_dir"]), facts


@pytest.mark.parametrize("ending", ["timeout", "cancel"])
def test_a_plain_ray_job_that_times_out_or_is_canceled_leaves_no_ray_process(
    ending: str, workspace: WorkspaceServer, tmp_path: Path
) -> None:
    mark = uuid.uuid4().hex
    job_file = _job_file(tmp_path, mark, "python plain_ray.py wait", timeout=60 if ending == "timeout" else 600)
    with workspace.client() as client:
        job = client.jobs.create(job_file)
        # Ray's own processes (GCS server, raylet…) as well as the job's
        wait_for(lambda: any("raylet" in p.name() for p in _marked_processes(mark)), timeout=120, what="Ray to start")
        if ending == "cancel":
            client.jobs.cancel(job.name)
        job.wait(timeout=180)
    assert job.status == (JobStatus.FAILED if ending == "timeout" else JobStatus.CANCELED)
    wait_for(lambda: not _marked_processes(mark), timeout=30, what="every Ray process of the job to end")
