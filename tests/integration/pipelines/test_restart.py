"""A pipeline survives its server's crash mid-run: its first step is re-adopted by the restarted server, and the
pipeline loop, which decides from the database alone, starts the next steps once it ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import WorkspaceServer, cleanup_jobs, job_file, server_env, wait_for
from tests.integration.pipelines.helpers import step_jobs, write_yaml
from tests.lanes import server_fixture

WAITER = """\
import pathlib, sys, time
while not pathlib.Path("release").exists():  # ./release, written by the test
    time.sleep(0.05)
pathlib.Path(sys.argv[1], "seen.txt").write_text("released")
"""


@server_fixture(scope="module")
def crash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """A server of this module's own: its test kills it."""
    home = tmp_path_factory.mktemp("kiln-pipeline-crash-home")
    server = WorkspaceServer(home, server_env(home, local_concurrency="2")).start()
    yield server
    server.stop()
    cleanup_jobs(home)


def test_a_pipeline_survives_a_server_crash_mid_run(crash_server: WorkspaceServer, tmp_path: Path) -> None:
    server = crash_server
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "waiter.py").write_text(WAITER)
    read = "python -c \"import sys, pathlib; print(pathlib.Path(sys.argv[1], 'seen.txt').read_text())\""
    spec = {
        "type": "pipeline",
        "jobs": {
            "first": {"code": "./src", "command": "python waiter.py ${{outputs.out}}",
                      "outputs": {"out": {"type": "uri_folder"}}},
            "second": {"command": read + " ${{inputs.x}}", "inputs": {"x": "${{parent.jobs.first.outputs.out}}"}},
        },
    }  # fmt: skip
    with server.client() as client:
        pipeline = client.jobs.create(write_yaml(tmp_path / "pipeline.yml", spec))
        first = wait_for(
            lambda: (job := step_jobs(client, pipeline.name).get("first")) and job.status.value == "running" and job,
            timeout=120, what="the first step to run",
        )  # fmt: skip
    server.kill()
    server.start()
    with server.client() as client:
        assert client.jobs.get(pipeline.name).status.value == "running"
        assert "second" not in step_jobs(client, pipeline.name)
        job_file(server.home, first.id, "release").touch()
        ended = client.jobs.get(pipeline.name).wait(timeout=120)
        assert ended.status.value == "completed", ended.view.failure_reason
        steps = step_jobs(client, pipeline.name)
        assert steps["first"].id == first.id and steps["second"].status.value == "completed"
        assert "released" in "".join(client.jobs.logs(steps["second"].name))
