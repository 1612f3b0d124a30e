"""Data assets end to end: real server processes, real uploads, real jobs reading versions."""

from __future__ import annotations

import json
import sqlite3
import textwrap
import uuid
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris, load_wine

from kiln import api
from kiln.errors import AlreadyExists, InvalidSpec, NotFound
from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer, wait_for, write_job
from tests.conftest import job_file as job_file_in

EXAMPLE = REPO / "examples" / "data-assets"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def iris_folder(folder: Path, rows: slice = slice(None)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    load_iris(as_frame=True).frame.iloc[rows].to_csv(folder / "iris.csv", index=False)
    (folder / "README.txt").write_text("the iris flowers\n")
    return folder


def stored_files(server: WorkspaceServer, content_hash: str) -> dict[str, bytes]:
    folder = server.home / "artifacts" / "data" / content_hash
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_create_show_list_download_and_a_version_never_changes(workspace: WorkspaceServer, tmp_path: Path) -> None:
    name = unique("iris")
    data = iris_folder(tmp_path / "iris")
    yaml_file = tmp_path / "data.yml"
    yaml_file.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
        f"name: {name}\nversion: 1\npath: ./iris\ndescription: iris as csv\ntags: {{source: sklearn}}\n"
    )
    created = json.loads(workspace.cli("data", "create", "-f", str(yaml_file), "-o", "json", check=True).stdout)
    assert (created["version"], created["type"], created["files"]) == ("1", "uri_folder", 2)
    assert created["tags"] == {"source": "sklearn"} and len(created["content_hash"]) == 64
    before = stored_files(workspace, created["content_hash"])
    assert before["iris.csv"] == (data / "iris.csv").read_bytes()

    # the same name, version and content again: a no-op that answers with the existing version
    again = json.loads(workspace.cli("data", "create", "-f", str(yaml_file), "-o", "json", check=True).stdout)
    assert again == created

    # other bytes under the same version: refused, and nothing changes
    (data / "iris.csv").write_text((data / "iris.csv").read_text().replace("5.1", "9.9", 1))
    refused = workspace.cli("data", "create", "-f", str(yaml_file))
    assert refused.returncode == 4, refused.stderr
    assert f"data asset '{name}' version '1' already exists with other content" in refused.stderr
    assert "create a new version" in refused.stderr
    with workspace.client() as client:
        with pytest.raises(AlreadyExists):
            client.data.create(yaml_file)
        assert [v.version for v in client.data.list(name)] == ["1"]
        assert client.data.get(name, 1).content_hash == created["content_hash"]
    assert stored_files(workspace, created["content_hash"]) == before

    # without a version: the next integer; flags work without a file
    second = json.loads(
        workspace.cli("data", "create", "--name", name, "--path", str(data), "-o", "json", check=True).stdout
    )
    assert second["version"] == "2" and second["content_hash"] != created["content_hash"]

    listed = json.loads(workspace.cli("data", "list", "-o", "json", check=True).stdout)
    assert [(v["name"], v["version"]) for v in listed if v["name"] == name] == [(name, "2")]
    versions = json.loads(workspace.cli("data", "list", "--name", name, "-o", "json", check=True).stdout)
    assert [v["version"] for v in versions] == ["2", "1"]
    shown = json.loads(workspace.cli("data", "show", "-n", name, "-o", "json", check=True).stdout)
    assert shown["version"] == "2"
    table = workspace.cli("data", "show", "-n", name, "-v", "1", check=True).stdout
    assert created["content_hash"] in table and f"kiln:{name}:1" in table
    assert name in workspace.cli("data", "list", check=True).stdout

    target = tmp_path / "downloaded"
    workspace.cli("data", "download", "-n", name, "-v", "1", "--download-path", str(target), check=True)
    assert (target / name / "iris.csv").read_bytes() == before["iris.csv"]
    assert (target / name / "README.txt").read_text() == "the iris flowers\n"


def test_bad_data_input_is_a_clear_error_and_nothing_is_recorded(workspace: WorkspaceServer, tmp_path: Path) -> None:
    name = unique("bad")
    (tmp_path / "file.csv").write_text("a\n1\n")
    cases = [
        (f"name: {name}\npath: ./file.csv\nformat: csv\n", "line 3: unknown field 'format'"),
        (f"name: {name}\npath: ./nowhere\n", "line 2: path: './nowhere' not found"),
        (f"name: {name}\npath: ./file.csv\n", "a uri_folder data asset needs a folder"),
        (f"name: {name}\npath: .\ntype: uri_file\n", "a uri_file data asset needs a file"),
        (f"name: {name}\npath: .\ntype: mltable\n", "a file named 'MLTable'"),
    ]
    for text, message in cases:
        (tmp_path / "data.yml").write_text(text)
        result = workspace.cli("data", "create", "-f", str(tmp_path / "data.yml"))
        assert result.returncode == 2, (text, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    with workspace.client() as client:
        with pytest.raises(NotFound, match=f"no data asset named '{name}'"):
            client.data.get(name)
        # the server checks too: a REST client cannot register an upload that is not a valid mltable
        upload = client.data._rest.call(api.uploads.CREATE, params={"kind": "folder"}, content=_tar(tmp_path))
        with pytest.raises(InvalidSpec, match="path: not a valid mltable"):
            client.data._rest.call(api.data.CREATE, json={"name": name, "type": "mltable", "path": upload.reference})
        with pytest.raises(NotFound):
            client.data.get(name)


def _tar(folder: Path) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(folder / "file.csv", arcname="file.csv")
    return buffer.getvalue()


def test_mltable_loads_as_a_dataframe(workspace: WorkspaceServer, tmp_path: Path) -> None:
    name = unique("wine")
    wine = load_wine(as_frame=True).frame
    folder = tmp_path / "wine"
    (folder / "parts").mkdir(parents=True)
    wine.iloc[:100].to_csv(folder / "parts" / "a.tsv", sep="\t", index=False)
    wine.iloc[100:].to_csv(folder / "parts" / "b.tsv", sep="\t", index=False)
    (folder / "MLTable").write_text(
        'paths:\n  - pattern: ./parts/*.tsv\ntransformations:\n  - read_delimited:\n      delimiter: "\\t"\n'
    )
    with workspace.client() as client:
        view = client.data.create(name=name, type="mltable", path=folder)
        assert view.type == "mltable" and view.files == 3
        pd.testing.assert_frame_equal(client.data.load_dataframe(name), wine)

        parquet = tmp_path / "wine-parquet"
        parquet.mkdir()
        wine.to_parquet(parquet / "wine.parquet")
        (parquet / "MLTable").write_text("paths: [{file: wine.parquet}]\ntransformations: [read_parquet]\n")
        assert client.data.create(name=name, type="mltable", path=parquet).version == "2"
        pd.testing.assert_frame_equal(client.data.load_dataframe(name, "2"), wine)
        pd.testing.assert_frame_equal(client.data.load_dataframe(name, "1"), wine)


RO_WRITER = """\
import pathlib, sys
folder = pathlib.Path(sys.argv[1])
print("rows:", len(folder.joinpath("iris.csv").read_text().splitlines()), flush=True)
folder.joinpath("iris.csv").write_text("overwritten by the job\\n")
print("wrote it", flush=True)
"""


def test_a_ro_mount_input_cannot_be_changed_by_the_job(workspace: WorkspaceServer, tmp_path: Path) -> None:
    name = unique("frozen")
    with workspace.client() as client:
        view = client.data.create(name=name, path=iris_folder(tmp_path / "data"))
    before = stored_files(workspace, view.content_hash)
    job_file = write_job(
        tmp_path / "job",
        textwrap.dedent(f"""\
            command: python writer.py ${{{{inputs.flowers}}}}
            code: ./src
            inputs:
              flowers: {{type: uri_folder, path: "kiln:{name}@latest", mode: ro_mount}}
            """),
        {"writer.py": RO_WRITER},
    )
    with workspace.client() as client:
        job = client.jobs.create(job_file).wait(timeout=120)
        log = "".join(client.jobs.logs(job.name))
    assert job.status == JobStatus.FAILED
    assert "rows: 151" in log and "wrote it" not in log
    assert "OSError: [Errno 30] Read-only file system" in (job.view.failure_reason or "")
    assert stored_files(workspace, view.content_hash) == before

    # the same version through azureml: and an exact version reads fine
    reader = write_job(
        tmp_path / "reader",
        f'command: wc -l ${{{{inputs.flowers}}}}/iris.csv\ninputs:\n  flowers: {{path: "azureml:{name}:1", mode: ro_mount}}\n',
    )
    with workspace.client() as client:
        job = client.jobs.create(reader).wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "151 " in "".join(client.jobs.logs(job.name))


def test_download_mode_gives_a_writable_copy(workspace: WorkspaceServer, tmp_path: Path) -> None:
    name = unique("copy")
    data_file = tmp_path / "numbers.csv"
    data_file.write_text("1\n2\n3\n")
    with workspace.client() as client:
        view = client.data.create(name=name, type="uri_file", path=data_file)
    before = stored_files(workspace, view.content_hash)
    job_file = write_job(
        tmp_path / "job",
        textwrap.dedent(f"""\
            command: >-
              echo 4 >> ${{{{inputs.numbers}}}} && cat ${{{{inputs.numbers}}}} > ${{{{outputs.seen}}}}
            inputs:
              numbers: {{type: uri_file, path: "kiln:{name}:1", mode: download}}
            outputs:
              seen: {{type: uri_file}}
            """),
    )
    with workspace.client() as client:
        job = client.jobs.create(job_file).wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        written = job.download(tmp_path / "out", output_name="seen")
    assert written[0].read_text() == "1\n2\n3\n4\n"
    assert stored_files(workspace, view.content_hash) == before == {"numbers.csv": b"1\n2\n3\n"}


def test_unknown_references_are_refused_at_submit(workspace: WorkspaceServer, tmp_path: Path) -> None:
    name = unique("known")
    with workspace.client() as client:
        client.data.create(name=name, path=iris_folder(tmp_path / "data"))
    cases = [
        (f"kiln:{unique('nope')}@latest", "inputs.d.path: there is no data asset named 'nope-"),
        (f"kiln:{name}:7", f"inputs.d.path: data asset '{name}' has no version '7' (versions, newest first: 1)"),
        (f"kiln:{name}@prod", "data assets have no label '@prod'"),
    ]
    for reference, message in cases:
        job_file = write_job(
            tmp_path / "job", f'command: ls ${{{{inputs.d}}}}\ninputs:\n  d: {{path: "{reference}"}}\n'
        )
        result = workspace.cli("job", "create", "-f", str(job_file))
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert "@prod" in reference or name in result.stderr  # what exists is listed
    job_file = write_job(tmp_path / "job", f'command: ls\ninputs:\n  d: {{type: uri_file, path: "kiln:{name}:1"}}\n')
    result = workspace.cli("job", "create", "-f", str(job_file))
    assert result.returncode == 2 and "uri_file cannot read data asset" in result.stderr


def test_latest_is_pinned_at_submit_and_archived_versions_are_skipped(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = make_server(local_concurrency="1")
    name = "flowers"
    with server.client() as client:
        for version in ("1", "2"):
            folder = tmp_path / f"v{version}"
            folder.mkdir()
            (folder / "version.txt").write_text(version)
            client.data.create(name=name, version=version, path=folder)
        blocker = client.jobs.create(
            write_job(tmp_path / "blocker", "command: while [ ! -e gate ]; do sleep 0.1; done\n")
        )
        gate = job_file_in(server.home, blocker.id, "gate")  # the job's ./gate
        wait_for(lambda: blocker.refresh().status == JobStatus.RUNNING, what="the blocker to run")
        reader_file = write_job(
            tmp_path / "reader",
            f'command: cat ${{{{inputs.d}}}}/version.txt\ninputs:\n  d: {{path: "kiln:{name}@latest", mode: ro_mount}}\n',
        )
        reader = client.jobs.create(reader_file)
        assert reader.status == JobStatus.QUEUED
        (tmp_path / "v3").mkdir()
        (tmp_path / "v3" / "version.txt").write_text("3")
        client.data.create(name=name, path=tmp_path / "v3")  # newer than what the job was pinned to
        gate.touch()
        reader.wait(timeout=120)
        assert reader.status == JobStatus.COMPLETED, reader.view.failure_reason
        assert "".join(client.jobs.logs(reader.name)) == "2"
        pinned = _pinned_inputs(server, reader.id)["d"]
        v2 = client.data.get(name, "2")
        assert (pinned["name"], pinned["version"], pinned["content_hash"]) == (name, "2", v2.content_hash)
        assert pinned["reference"] == f"kiln:{name}@latest"

        # archive: hidden from @latest and listings, still readable by exact version
        result = server.cli("data", "archive", "-n", name, "-v", "3", check=True)
        assert "archived" in result.stdout
        assert client.data.get(name).version == "2"
        assert [v.version for v in client.data.list(name)] == ["2", "1"]
        assert [v.version for v in client.data.list(name, include_archived=True)] == ["3", "2", "1"]
        assert client.data.get(name, "3").archived
        exact = client.jobs.create(
            write_job(
                tmp_path / "exact",
                f'command: cat ${{{{inputs.d}}}}/version.txt\ninputs:\n  d: {{path: "kiln:{name}:3"}}\n',
            )
        ).wait(timeout=120)
        assert exact.status == JobStatus.COMPLETED and "".join(client.jobs.logs(exact.name)) == "3"
        server.cli("data", "restore", "-n", name, "-v", "3", check=True)
        assert client.data.get(name, "latest").version == "3"
        client.data.archive(name)
        assert client.data.list() == []
        with pytest.raises(NotFound, match="every version of data asset 'flowers' is archived"):
            client.data.get(name)


def _pinned_inputs(server: WorkspaceServer, job_id: str) -> dict:  # type: ignore[type-arg]
    with sqlite3.connect(server.home / "kiln.db") as db:
        (value,) = db.execute("select pinned_inputs from jobs where id = ?", (job_id,)).fetchone()
    return dict(json.loads(value))


def test_the_example_registers_data_and_reads_it_with_ro_mount(workspace: WorkspaceServer) -> None:
    workspace.cli("data", "create", "-f", str(EXAMPLE / "data.yml"), check=True)
    result = workspace.cli("job", "create", "-f", str(EXAMPLE / "job.yml"), "--stream", "-o", "json", check=True)
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "completed"
    assert view["metrics"]["rows"] == 150
    # lineage, end to end: data → job → model
    printed = workspace.cli("lineage", "model:iris-from-table:latest", "-o", "json", check=True).stdout
    model = json.loads(printed)
    (job,) = model["upstream"]
    assert job["kind"] == "job" and job["id"] == view["name"]
    (data,) = [node for node in job["upstream"] if node["kind"] == "data"]
    assert data["id"].startswith("iris-table:") and data["details"]["input"] == "iris"
    tree = workspace.cli("lineage", "model:iris-from-table:latest", check=True).stdout
    assert "data iris-table:" in tree and view["name"] in tree
