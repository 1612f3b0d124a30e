"""A Ray cluster's token (Ray's token authentication), probed as an attacker would, on a real cluster that asks for
it. kiln reads the token from a file on the server's machine (the compute's ``token_file``) and sends it to the
cluster's address, so:

- Naming a token file is an owner's: a contributor (or a reader) who could name one would have the server read
  any token-shaped file it can (the workspace token, the datastore key) and send it to an address of theirs.
- Nobody reads the token back: answers and pages show the file's path only; a refused file is named by its path,
  never by what it holds; the token is in no file of the workspace's home (database, logs, job folders).
- A job on the cluster gets nothing of it from kiln: not in its environment, its ``.kiln_ray/job.json``, the
  runtime_env, entrypoint or metadata Ray shows on its dashboard, nor its log. (The cluster's own processes tell
  their drivers where the cluster keeps its token, ``RAY_AUTH_TOKEN_PATH``: code on a Ray cluster is the
  cluster's to trust, SECURITY.md.)
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import WorkspaceServer
from tests.lanes import server_fixture
from tests.ray_cluster import RayHead, start_ray_head, stop_ray_head
from tests.security.conftest import Team, run_probe_job

COMPUTE = f"sec-ray-{uuid.uuid4().hex[:6]}"


@server_fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    head = start_ray_head(num_cpus=1, token_auth=True)
    yield head
    stop_ray_head(head)


@pytest.fixture(scope="module")
def secured(security_server: WorkspaceServer, team: Team, ray_head: RayHead) -> Iterator[str]:
    """The cluster registered by the owner with its token file; forgotten again at the end."""
    with team.owner.client(security_server) as owner:
        owner.computes.create(name=COMPUTE, type="ray", address=ray_head.address, token_file=str(ray_head.token_file))
        yield COMPUTE
        owner.computes.delete(COMPUTE)


def _token(head: RayHead) -> str:
    assert head.token is not None
    return head.token


class Listener:
    """A loopback port that records what reaches it (and answers nothing): where an attacker's cluster would be."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.address = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.received = b""
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            client.settimeout(2)
            try:
                self.received += client.recv(65536)
            except OSError:
                pass
            client.close()

    def close(self) -> None:
        self._socket.close()


def test_only_an_owner_may_have_the_server_read_a_token_file(security_server: WorkspaceServer, team: Team) -> None:
    listener = Listener()
    try:
        for member in (team.reader, team.contributor):
            with member.http(security_server) as http:
                answer = http.post(
                    "/api/v1/computes",
                    json={
                        "name": "sec-exfiltrate", "type": "ray", "address": listener.address,
                        "token_file": str(security_server.home / "token"),  # the workspace token: token-shaped, 0600
                    },
                )  # fmt: skip
            assert answer.status_code == 403, answer.text
            assert answer.json()["error"]["message"].endswith(" owner")  # a reader: "needs contributor or owner"
        assert "naming a token file on the workspace server's machine (token_file) needs owner" in answer.text
        assert listener.received == b""  # the file was never read out, nor anything sent
    finally:
        listener.close()
    with team.owner.client(security_server) as owner:
        assert "sec-exfiltrate" not in [view.name for view in owner.computes.list()]


def test_a_refused_token_file_is_named_never_quoted(
    security_server: WorkspaceServer, team: Team, ray_head: RayHead, tmp_path: Path
) -> None:
    secret = tmp_path / "notes.txt"
    secret.write_text("db password: hunter2-7d41c9e0\n")
    secret.chmod(0o600)
    shared = tmp_path / "shared-token"
    shared.write_text(_token(ray_head))
    shared.chmod(0o644)
    with team.owner.http(security_server) as http:
        for path, expected in ((secret, "does not hold a token"), (shared, f"chmod 600 {shared}")):
            body = {"name": "sec-refused", "type": "ray", "address": ray_head.address, "token_file": str(path)}
            answer = http.post("/api/v1/computes", json=body)
            assert answer.status_code == 422 and expected in answer.text, answer.text
            assert "hunter2" not in answer.text and _token(ray_head) not in answer.text


def test_readers_see_the_token_files_path_never_the_token(
    security_server: WorkspaceServer, team: Team, ray_head: RayHead, secured: str
) -> None:
    answers = ""
    for member in team.members:
        with member.http(security_server) as http:
            shown = http.get(f"/api/v1/computes/{secured}")
            assert shown.status_code == 200 and shown.json()["token_file"] == str(ray_head.token_file)
            assert shown.json()["use"]["cpus"] == 1  # read with the token
            answers += shown.text + http.get("/api/v1/computes").text + http.get("/ui/compute").text
    assert str(ray_head.token_file) in answers and _token(ray_head) not in answers


RAY_PROBE = """\
import os, pathlib
report(
    environment=dict(os.environ),
    driver_config=pathlib.Path(".kiln_ray/job.json").read_text(),
    kiln_files=sorted(str(path) for path in pathlib.Path(".kiln_ray").rglob("*")),
)
"""


def test_a_job_on_the_cluster_gets_no_token_from_kiln(
    security_server: WorkspaceServer, team: Team, ray_head: RayHead, secured: str, tmp_path: Path
) -> None:
    token = _token(ray_head)
    run = run_probe_job(
        security_server, team.contributor.token, RAY_PROBE, folder=tmp_path, compute=f"kiln:{secured}", timeout=240
    )
    assert run.report["environment"]["KILN_JOB_ID"] == run.job.id  # the probe ran as the job
    assert token not in json.dumps(run.report) and token not in run.log
    assert json.loads(run.report["driver_config"])["secret_variables"]  # the job's own tokens travel there
    # what Ray shows of the job on its dashboard: runtime_env, entrypoint, metadata
    assert run.job.submission_id
    shown = httpx.get(f"{ray_head.address}/api/jobs/{run.job.submission_id}", headers=ray_head.headers, timeout=10)
    assert shown.status_code == 200 and shown.json()["runtime_env"]["env_vars"]
    assert token not in shown.text and "KILN_TOKEN" not in json.dumps(shown.json()["runtime_env"])
    with team.reader.http(security_server) as http:
        view = http.get(f"/api/v1/jobs/{run.job.name}").text
    assert token not in view


def test_the_token_is_in_no_file_of_the_workspace(
    security_server: WorkspaceServer, ray_head: RayHead, secured: str
) -> None:
    token = _token(ray_head).encode()
    read = 0
    for path in security_server.home.rglob("*"):
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > 200_000_000:
                continue
            content = path.read_bytes()
        except OSError:  # a file the running server just removed
            continue
        read += 1
        assert token not in content, f"the cluster's token is in {path}"
    assert read > 10  # the database, the server's logs, the jobs' folders
