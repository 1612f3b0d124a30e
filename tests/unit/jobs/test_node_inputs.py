"""A job prepared for a target that does not share the server's disk (``shares_disk = False``: a Ray cluster): every
input the store holds becomes a manifest of signed URLs (0600) naming that input's files and no others, downloaded
by the driver (or, for a kind's ``url_inputs``, streamed by the job); ``${{…}}`` then names paths inside the working
directory only. What the store does not hold is copied as before, and the log says so. Local jobs are unchanged."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from kiln.artifacts.signed_urls import ROUTE_PREFIX, SignedUrls
from kiln.artifacts.store import ArtifactStore
from kiln.jobs.folders import JobFolders
from kiln.jobs.inputs import JobInputs
from kiln.jobs.job import Job
from kiln.jobs.preparation import JobPreparation
from kiln.specs.job import CommandJobSpec, JobInput
from kiln.specs.pins import InputPin, RemotePin, UploadPin
from tests.unit.jobs.test_engine import JobTokens, NoUploads

BASE = "http://workspace:8080"


class StoredOrRemote:
    """Inputs named ``stored:KEY`` (the store holds them) or ``remote:…`` (it does not; copied from elsewhere)."""

    def accepts(self, item: JobInput) -> bool:
        return True

    def pin(self, name: str, item: JobInput) -> InputPin:
        path = item.path or ""
        if path.startswith("stored:"):
            return UploadPin(key=path.removeprefix("stored:"), content_hash="h")
        return RemotePin(path=path, type="folder")

    def materialize(self, name: str, item: JobInput, pinned: InputPin, target: Path) -> Path:
        (target / "copied.txt").write_text("copied")
        return target

    def stored_key(self, name: str, pinned: InputPin) -> str | None:
        return pinned.key if isinstance(pinned, UploadPin) else None


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    root = tmp_path / "store"
    for path, text in {"data/d1/a.csv": "1\n", "data/d1/sub/b.csv": "2\n", "uploads/u1/notes.txt": "n",
                       "data/secret/s.csv": "not this job's"}.items():  # fmt: skip
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return ArtifactStore(str(root))


def prepared(tmp_path: Path, store: ArtifactStore, shares_disk: bool, by_url: tuple[str, ...] = ()) -> Any:
    spec = CommandJobSpec.model_validate({
        "command": "run ${{inputs.data}} ${{inputs.notes}} ${{inputs.far}} ${{inputs.streamed}} ${{outputs.result}}",
        "inputs": {
            "data": {"type": "uri_folder", "path": "stored:data/d1"},
            "notes": {"type": "uri_file", "path": "stored:uploads/u1/notes.txt"},
            "streamed": {"type": "uri_folder", "path": "stored:data/d1"},
            "far": {"type": "uri_folder", "path": "remote:somewhere"},
        },
        "outputs": {"result": {"type": "uri_folder"}, "report": {"type": "uri_file"}},
    })  # fmt: skip
    inputs = JobInputs([StoredOrRemote()])
    row = SimpleNamespace(id="job1", name="job-one", compute="ray", experiment_id="0")
    job = Job(cast(Any, row), spec, cast(Any, None), inputs.pin(spec), JobFolders(tmp_path / "jobs").of("job1"))
    signed = SignedUrls(store, "workspace-secret", BASE)
    preparation = JobPreparation(NoUploads(), store, inputs, BASE, JobTokens(), signed)
    return job, signed, preparation.materialize(job, shares_disk, by_url)


def test_stored_inputs_go_as_manifests_and_every_value_is_inside_the_working_dir(
    tmp_path: Path, store: ArtifactStore
) -> None:
    job, signed, values = prepared(tmp_path, store, shares_disk=False, by_url=("streamed",))
    assert values["inputs"] == {
        "data": ".kiln_inputs/data", "notes": ".kiln_inputs/notes/notes.txt", "streamed": ".kiln_inputs/streamed.json",
        "far": str(job.folder.inputs / "far"),  # not the store's: copied on the server, as before
    }  # fmt: skip
    assert values["outputs"] == {"result": ".kiln_outputs/result", "report": ".kiln_outputs/report"}
    assert values["manifests"] == {"streamed": ".kiln_inputs/streamed.json"}
    assert (job.folder.working_dir / ".kiln_outputs" / "result").is_dir()
    assert not (job.folder.inputs / "data").exists() and (job.folder.inputs / "far" / "copied.txt").exists()
    log = job.folder.log.read_text()
    assert "input 'far' is copied to the job's folder on the workspace server, not signed" in log
    assert "input 'data' is downloaded from signed URLs (.kiln_inputs/data.json" in log
    assert "input 'streamed' is read through signed URLs (.kiln_inputs/streamed.json" in log

    wd = job.folder.working_dir
    data = json.loads((wd / ".kiln_inputs" / "data.json").read_text())
    assert data["download_to"] == ".kiln_inputs/data" and [f["name"] for f in data["files"]] == ["a.csv", "sub/b.csv"]
    assert "download_to" not in json.loads((wd / ".kiln_inputs" / "streamed.json").read_text())


def test_a_manifest_is_private_and_signs_its_inputs_files_only(tmp_path: Path, store: ArtifactStore) -> None:
    job, signed, _ = prepared(tmp_path, store, shares_disk=False)
    manifests = sorted((job.folder.working_dir / ".kiln_inputs").glob("*.json"))
    assert [m.name for m in manifests] == ["data.json", "notes.json", "streamed.json"]
    keys = set()
    for manifest in manifests:
        assert stat.S_IMODE(manifest.stat().st_mode) == 0o600
        for item in json.loads(manifest.read_text())["files"]:
            assert item["url"].startswith(BASE + ROUTE_PREFIX)
            keys.add(signed.verify(item["url"].removeprefix(BASE + ROUTE_PREFIX)))
    assert keys == {"data/d1/a.csv", "data/d1/sub/b.csv", "uploads/u1/notes.txt"}  # never data/secret


def test_a_target_that_shares_the_disk_gets_copies_and_server_paths_as_before(
    tmp_path: Path, store: ArtifactStore
) -> None:
    job, _, values = prepared(tmp_path, store, shares_disk=True, by_url=("streamed",))
    assert values["inputs"]["data"] == str(job.folder.inputs / "data")
    assert values["outputs"]["result"] == str(job.folder.outputs / "result") and "manifests" not in values
    assert not (job.folder.working_dir / ".kiln_inputs").exists()
    assert not (job.folder.working_dir / ".kiln_outputs").exists()
