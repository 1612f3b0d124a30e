"""A Ray cluster's token: read from its file with every client made, sent with every request, never echoed; a
cluster's refusal (401, 403) becomes one clear error. Without a cluster: Ray's Jobs API client and the dashboard's
REST API are stand-ins here (tests/integration/runners/ray/test_ray_token.py uses a real one)."""

from __future__ import annotations

import functools
import json
import os
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from kiln.errors import InvalidSpec, Unavailable
from kiln.runners.ray import cluster as cluster_module
from kiln.runners.ray.cluster import RayCluster
from kiln.runners.ray.compute import ENTRY_FOLDER, HandBack, runtime_env, write_driver
from kiln.runners.ray.token_file import MAX_TOKEN_BYTES, bearer_headers, read_token
from kiln.specs.compute import ComputeSpec, ComputeView

TOKEN = "3f" * 32  # Ray's own form: 64 hex digits
ADDRESS = "http://head:8265"


def _token_file(folder: Path, content: str = TOKEN + "\n", mode: int = 0o600) -> Path:
    path = folder / "auth_token"
    path.write_text(content)
    path.chmod(mode)
    return path


# The token file -----------------------------------------------------------------------------------
def test_the_token_is_the_files_one_line(tmp_path: Path) -> None:
    assert read_token(_token_file(tmp_path), "c") == TOKEN
    assert read_token(_token_file(tmp_path, f"  {TOKEN}\r\n\n"), "c") == TOKEN
    assert read_token(_token_file(tmp_path, "abc-._~+/xyz=="), "c") == "abc-._~+/xyz=="
    assert bearer_headers(_token_file(tmp_path), "c") == {"Authorization": f"Bearer {TOKEN}"}
    assert bearer_headers(None, "c") == {}


@pytest.mark.parametrize(
    ("content", "mode", "expected"),
    [
        ("", 0o600, "is empty; put the cluster's token in it (ray get-auth-token on the head node"),
        ("\n  \n", 0o600, "is empty"),
        (TOKEN, 0o644, "may be read or changed by other users (mode 0644); whoever reads it can run code on the"),
        (TOKEN, 0o620, "mode 0620"),
        (TOKEN, 0o604, "chmod 600 "),
        ("password: hunter2\nuser: ann\n", 0o600, "does not hold a token (one line of letters, digits and -._~+/="),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", 0o400, "does not hold a token"),
        ("a" * (MAX_TOKEN_BYTES + 1), 0o600, f"at most {MAX_TOKEN_BYTES} bytes"),
        ("tok\x00en", 0o600, "does not hold a token"),
    ],
    ids=["empty", "blank", "world-readable", "group-writable", "other-readable", "text", "ssh-key", "long", "nul"],
)
def test_a_file_that_is_no_private_token_is_refused_by_its_path_alone(
    tmp_path: Path, content: str, mode: int, expected: str
) -> None:
    path = _token_file(tmp_path, content, mode)
    with pytest.raises(InvalidSpec) as refused:
        read_token(path, "gpu-cluster")
    message = refused.value.message
    assert message.startswith(f"the token file {path} of Ray compute 'gpu-cluster' ") and expected in message
    for secret in ("hunter2", "b3BlbnNzaC1", "aaaaaaaaaa", TOKEN):
        assert secret not in message  # what the file holds is never said


def test_a_missing_file_a_folder_and_a_device_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="does not exist on the workspace server's machine"):
        read_token(tmp_path / "nope", "c")
    with pytest.raises(InvalidSpec, match="is not a file; name the file that holds the cluster's token"):
        read_token(tmp_path, "c")
    with pytest.raises(InvalidSpec, match="is not a file"):
        read_token(Path("/dev/null"), "c")
    with pytest.raises(InvalidSpec, match="cannot be read: Not a directory"):
        read_token(_token_file(tmp_path) / "below", "c")
    with pytest.raises(InvalidSpec, match="cannot be read: not a valid path"):
        read_token(tmp_path / "\ud800", "c")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_the_server_cannot_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="cannot be read by the workspace server: Permission denied"):
        read_token(_token_file(tmp_path, mode=0o200), "c")


# The spec -----------------------------------------------------------------------------------------
def test_a_ray_compute_names_its_token_file_by_an_absolute_path() -> None:
    spec = ComputeSpec.model_validate({"name": "c", "type": "ray", "address": ADDRESS, "token_file": " /t/tok "})
    assert spec.token_file == "/t/tok"
    assert ComputeSpec.model_validate({"name": "c", "type": "ray", "address": ADDRESS}).token_file is None
    with pytest.raises(ValidationError, match="'tok' is not an absolute path; give the token file's full path"):
        ComputeSpec.model_validate({"name": "c", "type": "ray", "address": ADDRESS, "token_file": "tok"})
    with pytest.raises(ValidationError, match="token_file: a compute target of type local .* takes no token file"):
        ComputeSpec.model_validate({"name": "c", "type": "local", "token_file": "/t/tok"})
    assert "token_file" in ComputeView.model_fields and "token" not in ComputeView.model_fields


# Headers on every request -------------------------------------------------------------------------
class AuthenticationError(Exception):
    """Stands for ray.exceptions.AuthenticationError (told by its name: Ray is imported on first use only)."""


class FakeJobsClient:
    """Ray's JobSubmissionClient as far as kiln uses it: it refuses requests whose token is not ``accepted``."""

    made: list[dict[str, Any]] = []
    accepted = TOKEN

    def __init__(self, address: str, headers: dict[str, str] | None = None) -> None:
        self.headers = dict(headers or {})
        FakeJobsClient.made.append(self.headers)
        self._check()

    def _check(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {FakeJobsClient.accepted}":
            raise AuthenticationError("Authentication failed: Forbidden: Invalid authentication token")

    def submit_job(self, **_: Any) -> str:
        self._check()
        return "submitted"

    def get_job_info(self, _: str) -> Any:
        self._check()
        return types.SimpleNamespace(status=types.SimpleNamespace(value="RUNNING"), message="", driver_exit_code=None)

    def get_job_logs(self, _: str) -> str:
        self._check()
        return "line\n"

    def stop_job(self, _: str) -> bool:
        self._check()
        return True

    async def tail_job_logs(self, _: str) -> Any:
        error = Exception("WSServerHandshakeError: 403, message='Invalid response status'")
        error.status = 403  # type: ignore[attr-defined]  # as aiohttp's handshake error carries it
        raise error
        yield  # an async generator


@pytest.fixture
def jobs_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeJobsClient]]:
    FakeJobsClient.made = []
    FakeJobsClient.accepted = TOKEN
    monkeypatch.setattr(cluster_module, "job_client_class", lambda: FakeJobsClient)
    yield FakeJobsClient


def _calls(cluster: RayCluster) -> dict[str, Callable[[], Any]]:
    return {
        "submit": lambda: cluster.submit("s1", "python x.py", {}, num_cpus=1, num_gpus=0, metadata={}),
        "state": lambda: cluster.state("s1"),
        "logs": lambda: cluster.logs("s1"),
        "stop": lambda: cluster.stop("s1"),
        "follow_logs": lambda: cluster.follow_logs("s1", lambda chunk: None),
    }


def test_the_jobs_client_carries_the_token_read_when_it_is_made(
    tmp_path: Path, jobs_client: type[FakeJobsClient]
) -> None:
    cluster = RayCluster("gpu", ADDRESS, _token_file(tmp_path))
    cluster.submit("s1", "python x.py", {}, num_cpus=1, num_gpus=0, metadata={})
    assert cluster.state("s1") is not None and cluster.logs("s1") == "line\n"
    cluster.stop("s1")
    assert jobs_client.made == [{"Authorization": f"Bearer {TOKEN}"}]  # one client, made once
    assert RayCluster("plain", ADDRESS).headers() == {}


@pytest.mark.parametrize("call", ["submit", "state", "logs", "stop", "follow_logs"])
def test_a_refused_token_is_one_clear_error_for_every_call(
    tmp_path: Path, jobs_client: type[FakeJobsClient], call: str
) -> None:
    path = _token_file(tmp_path)
    cluster = RayCluster("gpu", ADDRESS, path)
    cluster.jobs()
    jobs_client.accepted = "rotated"  # the cluster's token changed
    if call == "follow_logs":  # the log stream's own handshake refused
        jobs_client.accepted = TOKEN
    with pytest.raises(Unavailable) as refused:
        _calls(cluster)[call]()
    assert refused.value.message.startswith(
        f"Ray cluster 'gpu' at {ADDRESS} refused kiln's token (read from {path}): put the cluster's current token "
        "in that file (ray get-auth-token on the head node prints the cluster's token)"
    )
    assert TOKEN not in refused.value.message and "RAY_AUTH_MODE is currently" not in refused.value.message


def test_after_a_refusal_the_token_is_read_again(tmp_path: Path, jobs_client: type[FakeJobsClient]) -> None:
    path = _token_file(tmp_path)
    cluster = RayCluster("gpu", ADDRESS, path)
    jobs_client.accepted = "new-token"
    with pytest.raises(Unavailable, match="refused kiln's token"):
        cluster.state("s1")
    path.write_text("new-token\n")
    assert cluster.state("s1") is not None
    assert [headers["Authorization"] for headers in jobs_client.made] == [f"Bearer {TOKEN}", "Bearer new-token"]


def test_a_cluster_that_asks_for_a_token_kiln_lacks_says_how_to_give_one(jobs_client: type[FakeJobsClient]) -> None:
    with pytest.raises(Unavailable) as refused:
        RayCluster("gpu", ADDRESS).submit("s1", "python x.py", {}, num_cpus=1, num_gpus=0, metadata={})
    assert refused.value.message == (
        f"Ray cluster 'gpu' at {ADDRESS} asked for a token (its token authentication is on) and compute 'gpu' has "
        "none: register it again with --token-file PATH (token_file: in a compute YAML), a file on the workspace "
        "server's machine holding the cluster's token (ray get-auth-token on the head node prints the cluster's "
        "token); kiln compute delete -n gpu forgets it first"
    )


def test_a_token_file_gone_bad_is_said_before_the_cluster_is_asked(
    tmp_path: Path, jobs_client: type[FakeJobsClient]
) -> None:
    path = _token_file(tmp_path, mode=0o644)
    with pytest.raises(InvalidSpec, match="chmod 600"):
        RayCluster("gpu", ADDRESS, path).state("s1")
    assert jobs_client.made == []


# The dashboard's REST API (capacity) --------------------------------------------------------------
NODES = {"data": {"result": {"result": [{"state": "ALIVE", "resources_total": {"CPU": 2.0, "memory": 1e9}}]}}}


def _dashboard(monkeypatch: pytest.MonkeyPatch, token: str) -> list[httpx.Request]:
    """The dashboard's REST API answering as Ray's token check does (401 without a token, 403 with a wrong one)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        given = request.headers.get("authorization")
        if given is None:
            return httpx.Response(401, text="Unauthorized: Missing authentication token")
        if given != f"Bearer {token}":
            return httpx.Response(403, text="Forbidden: Invalid authentication token")
        body = NODES if request.url.path == "/api/v0/nodes" else {"data": {}}
        return httpx.Response(200, text=json.dumps(body))

    client = functools.partial(httpx.Client, transport=httpx.MockTransport(answer))
    monkeypatch.setattr(cluster_module, "httpx", types.SimpleNamespace(Client=client, HTTPError=httpx.HTTPError))
    return seen


def test_capacity_is_read_with_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _dashboard(monkeypatch, TOKEN)
    use = RayCluster("gpu", ADDRESS, _token_file(tmp_path)).use()
    assert use.nodes == 1 and use.cpus == 2
    assert [r.headers["authorization"] for r in seen] == [f"Bearer {TOKEN}"] * 2


def test_capacity_refused_is_the_same_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _dashboard(monkeypatch, "other")
    with pytest.raises(Unavailable, match=r"^Ray cluster 'gpu' at http://head:8265 refused kiln's token \(read from"):
        RayCluster("gpu", ADDRESS, _token_file(tmp_path)).use()
    with pytest.raises(Unavailable, match="asked for a token .* has none: register it again with --token-file PATH"):
        RayCluster("gpu", ADDRESS).use()


# What a job gets ----------------------------------------------------------------------------------
def test_a_jobs_own_ray_token_stays_out_of_the_runtime_env(tmp_path: Path) -> None:
    """Ray shows a job's runtime_env on its dashboard: a RAY_AUTH_TOKEN of the job's travels as its other tokens."""
    variables = {"RAY_AUTH_TOKEN": "the-jobs-own", "KILN_TOKEN": "t1", "A": "1"}
    built = runtime_env(tmp_path, variables, [])
    assert "RAY_AUTH_TOKEN" not in built["env_vars"] and built["env_vars"]["A"] == "1"
    write_driver(tmp_path, "python x.py", variables, None, HandBack(tmp_path, "k", tmp_path / "key"), ["outputs"])
    config = json.loads((tmp_path / ENTRY_FOLDER / "job.json").read_text())
    assert config["secret_variables"] == {"RAY_AUTH_TOKEN": "the-jobs-own", "KILN_TOKEN": "t1"}
