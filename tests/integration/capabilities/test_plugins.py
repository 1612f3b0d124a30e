"""Capability plug-ins in a real workspace server (and in the CLI, which loads the same plug-ins): named by KILN_PLUGINS, their routes reach a service
built from the workspace's own services, their commands run in the CLI, and one whose extra is
missing answers MissingExtra over REST, through the SDK and in the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from kiln.errors import MissingExtra
from tests.capability_plugins import absent_api

PLUGINS = "tests.capability_plugins.echo,tests.capability_plugins.absent"
MISSING = (
    "needs 'kiln_test_absent_extra_module' (the kiln[absent-test] extra), which is not installed in "
    f'{sys.executable}: pip install "kiln[absent-test]"'
)


def test_a_plugin_capability_on_a_real_server(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server(plugins=PLUGINS)
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})

    assert http.get("/api/v1/echo-test/say", params={"text": "hi"}).json() == {"echo": "echo: hi"}
    given = http.get("/api/v1/echo-test/context").json()
    assert given["url"] == server.url
    assert Path(given["folder"]) == (server.home / "capabilities" / "echo-test").resolve()
    assert given["services"] == (
        "ArtifactStore,RunTracker,JobService,DataService,ModelService,EnvironmentService,EndpointService"
    )
    assert httpx.get(f"{server.url}/api/v1/echo-test/say", params={"text": "hi"}).status_code == 401

    absent = http.get("/api/v1/absent-test/ping")
    assert absent.status_code == 501
    assert absent.json()["error"] == {
        "type": "MissingExtra",
        "message": f"GET /api/v1/absent-test/ping on the workspace server {MISSING}",
    }
    with server.client() as client, pytest.raises(MissingExtra, match="pip install"):
        client._rest.call(absent_api.PING)

    assert server.cli("echo-test", "from", "the", "cli", check=True).stdout == "echo: from the cli\n"
    missing = server.cli("absent-test")
    assert (
        missing.returncode == MissingExtra.exit_code and missing.stderr.strip() == f"error: kiln absent-test {MISSING}"
    )


ECHO_JOB = """\
type: echo-test
message: hello from a plug-in kind
experiment_name: plugins
outputs:
  said: {type: uri_folder}
"""


def test_a_job_kind_added_by_a_plugin_runs_through_the_cli_rest_and_engine(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The proof that new job kinds are additions: `type: echo-test` lives in tests/capability_plugins only."""
    server = make_server(plugins="tests.capability_plugins.echo")
    job_file = tmp_path / "echo.yml"
    job_file.write_text(ECHO_JOB)

    created = server.cli("job", "create", "-f", str(job_file), "--stream", check=True)  # the CLI parses it too
    assert "hello from a plug-in kind" in created.stdout
    with server.client() as client:
        jobs = [job for job in client.jobs.list() if job.view.type == "echo-test"]
        assert len(jobs) == 1
        job = jobs[0].wait(timeout=120)
        assert job.status.value == "completed", job.view.failure_reason
        assert job.view.command == "echo-test: hello from a plug-in kind"
        said = job.download(tmp_path / "out", output_name="said")
        assert (said[0] / "said.txt").read_text() == "hello from a plug-in kind\n"

    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})
    posted = http.post("/api/v1/jobs", json={"type": "echo-test", "message": "over REST", "experiment_name": "plugins"})
    assert posted.status_code == 201, posted.text
    assert posted.json()["type"] == "echo-test"
    with server.client() as client:
        assert client.jobs.get(posted.json()["name"]).wait(timeout=120).status.value == "completed"
        log = "".join(client.jobs.logs(posted.json()["name"]))
    assert "over REST" in log
    wrong = http.post("/api/v1/jobs", json={"type": "echo-test", "mesage": "typo"})
    assert wrong.status_code == 422 and "mesage" in wrong.json()["error"]["message"]
    unknown = http.post("/api/v1/jobs", json={"type": "no-such-kind"})
    assert unknown.status_code == 422
    assert (
        "known types: command, model_conversion, responsible_ai, batch_scoring, sweep, pipeline, echo-test"
        in unknown.json()["error"]["message"]
    )
