"""Datastores and remote data end to end: a real server, a local HTTP server and moto's S3 server, real jobs."""

from __future__ import annotations

import http.server
import json
import sqlite3
import textwrap
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from kiln.errors import InvalidSpec, NotFound
from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, write_job
from tests.lanes import server_fixture
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, s3_server  # noqa: F401  (fixture)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Site:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        handler = partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect-to/"):  # an allowed site that sends kiln elsewhere
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect-to/"))
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site")
    (folder / "numbers.csv").write_text("1\n2\n3\n")
    served = Site(folder)
    yield served
    served.httpd.shutdown()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shared")
    (folder / "flowers").mkdir()
    (folder / "flowers" / "a.csv").write_text("x\n1\n")
    (folder / "flowers" / "b.csv").write_text("x\n2\n")
    return folder


@server_fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    site: Site,
    shared: Path,
    s3_server: S3Server,  # noqa: F811
) -> Iterator[WorkspaceServer]:
    home = tmp_path_factory.mktemp("kiln-datastores-home")
    s3_host = s3_server.url.split("://", 1)[1].rstrip("/")
    settings = {"local_datastore_roots": str(shared), "remote_private_hosts": f"127.0.0.1:{site.port},{s3_host}"}
    started = WorkspaceServer(home, server_env(home, local_concurrency="2", **settings)).start()
    yield started
    started.stop()
    cleanup_jobs(home)


def test_a_job_reads_an_https_input(server: WorkspaceServer, site: Site, tmp_path: Path) -> None:
    job_file = write_job(
        tmp_path,
        textwrap.dedent(f"""\
            command: cat ${{{{inputs.numbers}}}}
            inputs:
              numbers: {{type: uri_file, path: "{site.url}/numbers.csv", mode: download}}
            """),
    )
    with server.client() as client:
        job = client.jobs.create(job_file).wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "".join(client.jobs.logs(job.name)) == "1\n2\n3\n"


def test_a_data_asset_from_https_pins_its_content(server: WorkspaceServer, site: Site, tmp_path: Path) -> None:
    name = unique("web")
    (site.folder / f"{name}.csv").write_text("a\n")
    with server.client() as client:
        view = client.data.create(name=name, type="uri_file", path=f"{site.url}/{name}.csv")
        assert view.remote_path == f"{site.url}/{name}.csv" and view.files == 1
        reader = write_job(
            tmp_path,
            f'command: cat ${{{{inputs.d}}}}\ninputs:\n  d: {{type: uri_file, path: "azureml:{name}:1", mode: download}}\n',
        )
        job = client.jobs.create(reader).wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "".join(client.jobs.logs(job.name)) == "a\n"
        # the content changes: a download fails naming the asset; ro_mount serves what was pinned
        (site.folder / f"{name}.csv").write_text("b\n")
        job = client.jobs.create(reader).wait(timeout=120)
        assert job.status == JobStatus.FAILED
        assert f"data asset {name}:1" in (job.view.failure_reason or "") and "changed" in (
            job.view.failure_reason or ""
        )
        mounted = write_job(
            tmp_path / "ro",
            f'command: cat ${{{{inputs.d}}}}\ninputs:\n  d: {{type: uri_file, path: "azureml:{name}:1", mode: ro_mount}}\n',
        )
        job = client.jobs.create(mounted).wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "".join(client.jobs.logs(job.name)) == "a\n"


def test_a_local_datastore_path_as_data_asset_and_job_input(
    server: WorkspaceServer, shared: Path, tmp_path: Path
) -> None:
    store = unique("shared")
    result = server.cli("datastore", "create", "--name", store, "--type", "local", "--path", str(shared), check=True)
    assert store in result.stdout
    with server.client() as client:
        view = client.data.create(name=unique("flowers"), path=f"azureml://datastores/{store}/paths/flowers")
        assert view.files == 2 and view.remote_path == f"azureml://datastores/{store}/paths/flowers"
        job_file = write_job(
            tmp_path,
            f"command: cat ${{{{inputs.f}}}}/a.csv ${{{{inputs.f}}}}/b.csv\ninputs:\n"
            f'  f: {{type: uri_folder, path: "azureml://datastores/{store}/paths/flowers", mode: ro_mount}}\n',
        )
        job = client.jobs.create(job_file).wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "".join(client.jobs.logs(job.name)) == "x\n1\nx\n2\n"
        with pytest.raises(InvalidSpec, match=r"path: '\.\./x' |'\.' or '\.\.' segment"):
            client.data.create(name=unique("out"), path=f"azureml://datastores/{store}/paths/../x")


def test_an_s3_datastore_keeps_its_secret(server: WorkspaceServer, s3_server: S3Server, tmp_path: Path) -> None:  # noqa: F811
    bucket = s3_server.create_bucket("remote")
    s3_server.client().put_object(Bucket=bucket, Key="tables/t.csv", Body=b"s3 data\n")
    store = unique("bucket")
    spec = tmp_path / "datastore.yml"
    spec.write_text(
        textwrap.dedent(f"""\
            $schema: https://azuremlschemas.azureedge.net/latest/s3Datastore.schema.json
            name: {store}
            type: s3
            bucket: {bucket}
            endpoint_url: {s3_server.url}
            credentials:
              access_key_id: {ACCESS_KEY}
              secret_access_key: {SECRET_KEY}
            """)
    )
    created = server.cli("datastore", "create", "-f", str(spec), "-o", "json", check=True)
    shown = server.cli("datastore", "show", "-n", store, check=True)
    listed = server.cli("datastore", "list", "-o", "json", check=True)
    assert '"access_key"' in created.stdout and "access_key" in shown.stdout
    with server.client() as client:
        view = client.data.create(
            name=unique("s3"), type="uri_file", path=f"azureml://datastores/{store}/paths/tables/t.csv"
        )
        assert view.files == 1
        job_file = write_job(
            tmp_path / "job",
            f'command: cat ${{{{inputs.t}}}}/t.csv\ninputs:\n  t: {{type: uri_folder, path: "s3://{bucket}/tables"}}\n',
        )
        job = client.jobs.create(job_file).wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "".join(client.jobs.logs(job.name)) == "s3 data\n"
        job_view = server.cli("job", "show", "-n", job.name, "-o", "json", check=True).stdout
    everything = created.stdout + shown.stdout + listed.stdout + job_view
    everything += "".join(p.read_text(errors="replace") for p in server.logs)
    assert SECRET_KEY not in everything
    stored = sqlite3.connect(server.home / "kiln.db").execute("SELECT * FROM datastores").fetchall()
    assert stored and SECRET_KEY not in repr(stored)  # sealed in the database too


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("azureml://datastores/nowhere/paths/x.csv", "inputs.d.path: there is no datastore named 'nowhere'"),
        ("s3://no-such-store/x.csv", "inputs.d.path: no datastore reads the s3 bucket 'no-such-store'"),
        ("http://127.0.0.1:1/x.csv", "inputs.d.path: 'http://127.0.0.1:1/x.csv' reaches 127.0.0.1 (loopback)"),
        ("https://acct.blob.core.windows.net/c/x.csv?sv=1&sig=abc", "inputs.d.path: the URL carries a credential"),
    ],
)
def test_bad_remote_inputs_name_the_field(server: WorkspaceServer, tmp_path: Path, path: str, message: str) -> None:
    job_file = write_job(tmp_path, f'command: "true"\ninputs:\n  d: {{type: uri_file, path: "{path}"}}\n')
    result = server.cli("job", "create", "-f", str(job_file))
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "sig=abc" not in result.stdout


def test_bad_datastores_are_refused_naming_the_field(server: WorkspaceServer, site: Site, tmp_path: Path) -> None:
    with server.client() as client:
        with pytest.raises(InvalidSpec, match="type"):
            client.datastores.create(name=unique("x"), type="ftp", path="/tmp")
        with pytest.raises(InvalidSpec, match="a s3 datastore needs 'bucket'"):
            client.datastores.create(name=unique("x"), type="s3")
        with pytest.raises(InvalidSpec, match="credentials: a azure_blob datastore takes one of"):
            client.datastores.create(
                name=unique("x"), type="azure_blob", account_name="acct", container_name="data",
                credentials={"client_secret": "s"},
            )  # fmt: skip
        with pytest.raises(InvalidSpec, match=r"datastore\.path: .* is outside the folders this server shares"):
            client.datastores.create(name=unique("x"), type="local", path=str(tmp_path))
        with pytest.raises(NotFound, match="no datastore named 'missing'"):
            client.datastores.get("missing")
        web = unique("web")
        client.datastores.create(name=web, type="https", url=site.url)
        with pytest.raises(InvalidSpec, match="path: .*answered HTTP 404"):
            client.data.create(name=unique("x"), type="uri_file", path=f"azureml://datastores/{web}/paths/missing.csv")
        client.datastores.delete(web)
        with pytest.raises(InvalidSpec, match=f"path: there is no datastore named '{web}'"):
            client.data.create(name=unique("x"), type="uri_file", path=f"azureml://datastores/{web}/paths/numbers.csv")


def test_an_allowed_site_cannot_redirect_kiln_to_its_own_services(server: WorkspaceServer, site: Site) -> None:
    mlflow_port = json.loads((server.home / "mlflow" / "process.json").read_text())["port"]
    for target in (
        f"http://127.0.0.1:{mlflow_port}/",
        f"http://localhost:{site.port + 0}/numbers.csv",
        "file:///etc/passwd",
    ):
        with server.client() as client, pytest.raises(InvalidSpec, match="may not reach|not http"):
            client.data.create(name=unique("hop"), type="uri_file", path=f"{site.url}/redirect-to/{target}")
    # the same site's own redirect (to its allowed HOST:PORT) is followed
    with server.client() as client:
        hop = client.data.create(
            name=unique("hop"), type="uri_file", path=f"{site.url}/redirect-to/{site.url}/numbers.csv"
        )
        assert hop.files == 1
