"""Datastores and remote data, probed as an attacker would (issue 12).

- Roles: a reader lists and shows datastores but cannot create or delete one; nobody reads a credential
  back (REST answers name its kind only; the database holds it sealed).
- ``local`` datastores: only inside folders the operator shares (``local_datastore_roots``), and never
  into, onto or above the workspace's home (its token, keys, jobs) — not through a symbolic link either.
  Why not owner-only: an owner can be anyone the workspace's admin trusts with users, while the folders a
  server process can read are the machine's business; the operator's setting decides.
- SSRF: remote data never reaches loopback (kiln's MLflow child, replicas, the server itself), private or
  link-local addresses (cloud metadata) unless the operator lists that HOST:PORT; redirects are checked too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.errors import Forbidden, InvalidSpec
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, write_job
from tests.lanes import server_fixture
from tests.security.conftest import Team, make_team

SECRET = "probe-secret-7d41c9e0"


@server_fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    home = tmp_path_factory.mktemp("kiln-datastore-probes")
    # the operator shares the folder that holds the home: only the home guard stands between a datastore and it
    started = WorkspaceServer(home, server_env(home, local_datastore_roots=str(home.parent))).start()
    yield started
    started.stop()
    cleanup_jobs(home)


@pytest.fixture(scope="module")
def members(server: WorkspaceServer) -> Team:
    return make_team(server, suffix="ds")


S3_STORE = {
    "type": "s3",
    "bucket": "kiln-probe",
    "credentials": {"access_key_id": "AKIAPROBE", "secret_access_key": SECRET},
}


def test_a_reader_cannot_create_or_delete_and_nobody_reads_a_secret(server: WorkspaceServer, members: Team) -> None:
    with members.reader.client(server) as reader:
        with pytest.raises(Forbidden):
            reader.datastores.create(name="by-reader", **S3_STORE)
    with members.contributor.client(server) as contributor:
        contributor.datastores.create(name="probe-s3", **S3_STORE)
    with members.reader.client(server) as reader:
        with pytest.raises(Forbidden):
            reader.datastores.delete("probe-s3")
        assert reader.datastores.get("probe-s3").credential == "access_key"
    answers = ""
    for member in members.members:
        with member.http(server) as http:
            answers += http.get("/api/v1/datastores").text + http.get("/api/v1/datastores/probe-s3").text
    answers += server.cli("datastore", "show", "-n", "probe-s3", "-o", "json", check=True).stdout
    assert '"credential":"access_key"' in answers.replace(" ", "")
    assert SECRET not in answers and "AKIAPROBE" not in answers
    stored = sqlite3.connect(server.home / "kiln.db").execute("SELECT * FROM datastores").fetchall()
    assert stored and SECRET not in repr(stored)  # sealed in the database too
    key = server.home / "datastore.key"
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"


def test_a_local_datastore_cannot_reach_the_workspace_home(
    server: WorkspaceServer, members: Team, tmp_path: Path
) -> None:
    home = server.home
    link = home.parent / "innocent-looking"
    link.symlink_to(home)
    with members.contributor.client(server) as contributor:
        for path in (home, home / "mlflow", home.parent, link):
            with pytest.raises(InvalidSpec, match="workspace's own home"):
                contributor.datastores.create(name="probe-home", type="local", path=str(path))
        with pytest.raises(InvalidSpec, match="outside the folders this server shares"):
            contributor.datastores.create(name="probe-etc", type="local", path="/etc")
        # a shared folder is fine, and a link inside it leading into the home reads nothing
        shared = home.parent / "shared-data"
        shared.mkdir()
        (shared / "ok.csv").write_text("fine\n")
        (shared / "token-link").symlink_to(home / "token")
        contributor.datastores.create(name="probe-shared", type="local", path=str(shared))
        assert (
            contributor.data.create(
                name="probe-ok", type="uri_file", path="azureml://datastores/probe-shared/paths/ok.csv"
            ).files
            == 1
        )
        with pytest.raises(InvalidSpec, match="leaves its datastore's folder"):
            contributor.data.create(
                name="probe-token", type="uri_file", path="azureml://datastores/probe-shared/paths/token-link"
            )


def _mlflow_port(server: WorkspaceServer) -> int:
    return int(json.loads((server.home / "mlflow" / "process.json").read_text())["port"])


def test_remote_data_never_reaches_kilns_own_services_or_metadata(
    server: WorkspaceServer, members: Team, tmp_path: Path
) -> None:
    port = server.url.rsplit(":", 1)[1]
    cache = server.home / "cache" / "remote"
    cached_before = set(cache.glob("*"))
    targets = [
        f"http://127.0.0.1:{_mlflow_port(server)}/api/2.0/mlflow/experiments/search",
        f"http://localhost:{port}/api/v1/whoami",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:80/",
    ]
    with members.contributor.client(server) as contributor:
        for index, url in enumerate(targets):
            job_file = write_job(
                tmp_path / str(index), f'command: "true"\ninputs:\n  d: {{type: uri_file, path: "{url}"}}\n'
            )
            with pytest.raises(InvalidSpec, match=r"inputs\.d\.path: .* which remote data may not reach"):
                contributor.jobs.create(job_file)
            with pytest.raises(InvalidSpec, match=r"path: .* which remote data may not reach"):
                contributor.data.create(name=f"probe-ssrf-{index}", type="uri_file", path=url)
        with pytest.raises(InvalidSpec, match=r"datastore\.url: .* which remote data may not reach"):
            contributor.datastores.create(
                name="probe-web", type="https", url=f"http://127.0.0.1:{_mlflow_port(server)}"
            )
        with pytest.raises(InvalidSpec, match=r"datastore\.endpoint_url: .* which remote data may not reach"):
            contributor.datastores.create(
                name="probe-s3-local", type="s3", bucket="bucket", endpoint_url=f"http://127.0.0.1:{port}"
            )
    assert set(cache.glob("*")) == cached_before  # nothing was read
