"""Ray compute on a cluster with token authentication (``RAY_AUTH_MODE=token``): a real one-node cluster that
refuses requests without its token, and a real server process. kiln reads the token from the compute's token file
and sends it with every request; a cluster that refuses kiln (no token, a wrong one) is one clear error, at
``compute create``, in ``compute show`` and as a job's failure reason.

Run inside a loopback-only network namespace (DESIGN.md §8), as the README's test command does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, write_job
from tests.lanes import server_fixture
from tests.ray_cluster import RayHead, start_ray_head, stop_ray_head

pytestmark = pytest.mark.slow
CLUSTER = "ray-secured"


@server_fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    head = start_ray_head(num_cpus=1, token_auth=True)
    yield head
    stop_ray_head(head)  # asserts that none of its processes is left


@server_fixture(scope="module")
def ray_server(ray_head: RayHead, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """A workspace server with the cluster registered as 'ray-secured' from a compute YAML naming its token file."""
    home = tmp_path_factory.mktemp("kiln-ray-token-home")
    server = WorkspaceServer(home, server_env(home)).start()
    compute_file = home / "compute.yml"
    compute_file.write_text(
        f"name: {CLUSTER}\ntype: ray\naddress: {ray_head.address}\ntoken_file: {ray_head.token_file}\n"
    )
    server.cli("compute", "create", "-f", str(compute_file), check=True)
    yield server
    server.stop()
    cleanup_jobs(home)


def _token_copy(folder: Path, content: str, mode: int = 0o600) -> Path:
    path = folder / "token"
    path.write_text(content)
    path.chmod(mode)
    return path


def _token(head: RayHead) -> str:
    assert head.token is not None, "a head started with token_auth=True"
    return head.token


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    """The CLI's error of a refused command: it failed with one line of kiln's, and no traceback."""
    assert result.returncode != 0, result.stdout
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return result.stderr


# Compute targets -----------------------------------------------------------------------------------
def test_the_cluster_is_registered_and_shown_with_its_token_file(
    ray_server: WorkspaceServer, ray_head: RayHead
) -> None:
    token = _token(ray_head)
    assert httpx.get(f"{ray_head.address}/api/version", timeout=10).status_code == 401  # it does ask for one
    view = json.loads(ray_server.cli("compute", "show", "-n", CLUSTER, "-o", "json", check=True).stdout)
    assert view["token_file"] == str(ray_head.token_file) and view["problem"] is None
    assert view["use"]["nodes"] == 1 and view["use"]["cpus"] == 1 and view["use"]["memory_bytes"] > 0
    shown = ray_server.cli("compute", "show", "-n", CLUSTER, check=True).stdout
    for fragment in (ray_head.address, "token file", "nodes", "CPUs", "0 running"):
        assert fragment in shown
    listed = ray_server.cli("compute", "list", "-o", "json", check=True).stdout
    for answer in (listed, shown, json.dumps(view)):
        assert token not in answer
    # the same with the command line's options
    made = ray_server.cli(
        "compute", "create", "--name", "ray-flags", "--type", "ray", "--address", ray_head.address,
        "--token-file", str(ray_head.token_file), "-o", "json", check=True,
    )  # fmt: skip
    assert json.loads(made.stdout)["use"]["cpus"] == 1
    ray_server.cli("compute", "delete", "-n", "ray-flags", check=True)


def test_a_compute_without_the_token_or_with_a_wrong_one_is_refused_clearly(
    ray_server: WorkspaceServer, ray_head: RayHead, tmp_path: Path
) -> None:
    create = ("compute", "create", "--name", "ray-other", "--type", "ray", "--address", ray_head.address)
    no_token = _refused(ray_server.cli(*create))
    assert no_token.startswith(
        f"error: Ray cluster 'ray-other' at {ray_head.address} asked for a token (its token authentication is on) "
        "and compute 'ray-other' has none: register it again with --token-file PATH"
    )
    wrong = _token_copy(tmp_path, "0123abcd" * 8 + "\n")
    wrong_token = _refused(ray_server.cli(*create, "--token-file", str(wrong)))
    assert wrong_token.startswith(
        f"error: Ray cluster 'ray-other' at {ray_head.address} refused kiln's token (read from {wrong}): put the "
        "cluster's current token in that file"
    )
    shared = _token_copy(tmp_path, _token(ray_head), 0o644)
    assert f"(mode 0644); whoever reads it can run code on the cluster: chmod 600 {shared}" in _refused(
        ray_server.cli(*create, "--token-file", str(shared))
    )
    assert "does not exist on the workspace server's machine" in _refused(
        ray_server.cli(*create, "--token-file", str(tmp_path / "nope"))
    )
    assert "'token' is not an absolute path" in _refused(ray_server.cli(*create, "--token-file", "token"))
    listed = json.loads(ray_server.cli("compute", "list", "-o", "json", check=True).stdout)
    assert [item["name"] for item in listed] == ["local", CLUSTER]  # nothing recorded


# Jobs ---------------------------------------------------------------------------------------------------
def test_a_job_runs_to_completion_with_its_log(ray_server: WorkspaceServer, ray_head: RayHead, tmp_path: Path) -> None:
    job_file = write_job(
        tmp_path,
        f"command: python hello.py\ncode: ./src\ncompute: kiln:{CLUSTER}\n",
        {"hello.py": "for n in range(3):\n    print(f'hello {n} from the secured cluster', flush=True)\n"},
    )
    result = ray_server.cli("job", "create", "-f", str(job_file), "--stream", "-o", "json", check=True)
    assert "hello 2 from the secured cluster" in result.stdout
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "completed" and view["exit_code"] == 0 and view["compute"] == CLUSTER
    answer = httpx.get(f"{ray_head.address}/api/jobs/{view['submission_id']}", headers=ray_head.headers, timeout=10)
    assert answer.json()["status"] == "SUCCEEDED"
    with ray_server.client() as client:
        log = "".join(client.jobs.logs(view["name"]))
    assert log.count("hello 1 from the secured cluster") == 1 and _token(ray_head) not in log


def test_a_token_gone_wrong_fails_the_job_with_the_reason_and_a_mended_file_is_read_again(
    ray_server: WorkspaceServer, ray_head: RayHead, tmp_path: Path
) -> None:
    token_file = tmp_path / "rotating-token"
    shutil.copyfile(ray_head.token_file, token_file)
    token_file.chmod(0o600)
    job_file = write_job(tmp_path, "command: echo mended\ncompute: kiln:ray-rotating\n")
    with ray_server.client() as client:
        client.computes.create(name="ray-rotating", type="ray", address=ray_head.address, token_file=str(token_file))
        token_file.write_text("0123abcd" * 8)  # no longer the cluster's
        shown = client.computes.get("ray-rotating")
        assert shown.use is None and (shown.problem or "").startswith(
            f"Ray cluster 'ray-rotating' at {ray_head.address} refused kiln's token (read from {token_file})"
        )
        failed = client.jobs.create(job_file).wait(timeout=120)
        assert failed.status == JobStatus.FAILED
        assert (failed.view.failure_reason or "").startswith(
            f"preparing the job failed: Ray cluster 'ray-rotating' at {ray_head.address} refused kiln's token"
        )
        shutil.copyfile(ray_head.token_file, token_file)  # mended: read again, no restart
        done = client.jobs.create(job_file).wait(timeout=180)
        log = "".join(client.jobs.logs(done.name))
        assert done.status == JobStatus.COMPLETED, f"{done.view.failure_reason}\n{log}"
        assert "mended" in log
        client.computes.delete("ray-rotating")
    server_log = "".join(log.read_text(errors="replace") for log in ray_server.logs)
    assert "AuthenticationError" not in server_log and _token(ray_head) not in server_log
