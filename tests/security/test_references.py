"""Confined references: every path a contributor can name (an upload and a path in it, a job's run, a job's
output, a code folder, an MLTable's ``paths``) stays inside what it names, and nothing a job leaves in its
outputs (symbolic links to the workspace token, /etc/passwd, /etc) carries what lies outside.

Each way out is tried as the contributor against a real server, on every door that takes a reference (model
create, data create, job inputs, ``code``, a deployment's code and model); each must be refused with 422 naming
the field, and leave nothing behind. A real job then plants links in its outputs; whatever a reader can
download afterwards (job outputs, registered models, data, MLflow's run artifacts) must not hold the token."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import WorkspaceServer, wait_for
from tests.security.conftest import SUFFIX, ProbeRun, Seeded, Team, run_probe_job

PASSWD_LINE = "root:x:0:0"
# The ways out of an upload's folder, each aimed at KILN_HOME/token (artifacts/snapshots/<hash>/../../../token)
UPLOAD_ESCAPES = {
    "dotdot": "../../../token",
    "dotdot-inside-a-name": "weights.txt/../../../../token",
    "encoded-dots": "%2e%2e/%2e%2e/%2e%2e/token",
    "encoded-slashes": "..%2f..%2f..%2ftoken",
    "double-encoded": "%252e%252e/%252e%252e/%252e%252e/token",
    "backslashes": "..\\..\\..\\token",
    "absolute": "/etc/passwd",
    "nul": "weights.txt\x00/../../../token",
}
# The ways out of a job's run or its outputs (artifacts/jobs/<id>/outputs/default/../../../../../token)
JOB_ESCAPES = {
    "runs-dotdot": "runs:/{job}/../../etc",
    "runs-encoded": "runs:/{job}/%2e%2e/%2e%2e/etc",
    "runs-absolute": "runs:/{job}//etc/passwd",
    "output-dotdot": "azureml://jobs/{job}/outputs/..",
    "output-dotdot-slash": "azureml://jobs/{job}/outputs/../",
    "output-encoded": "kiln://jobs/{job}/outputs/%2e%2e",
    "output-path-dotdot": "azureml://jobs/{job}/outputs/default/paths/../../../../../token",
    "output-path-encoded": "azureml://jobs/{job}/outputs/default/paths/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/token",
    "job-dotdot": "azureml://jobs/../outputs/token",
    "runs-nothing-there": "runs:/{job}/no-model-here",
}


def _tar(entries: dict[str, str | tuple[str, str]]) -> bytes:
    """A tar archive: ``name: text`` is a file, ``name: ("link", target)`` a symbolic link."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                archive.addfile(info)
            else:
                data = content.encode()
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _upload(http: httpx.Client, entries: dict[str, str | tuple[str, str]]) -> httpx.Response:
    return http.post("/api/v1/uploads", params={"kind": "folder"}, content=_tar(entries))


@pytest.fixture(scope="module")
def contributor(security_server: WorkspaceServer, team: Team) -> Iterator[httpx.Client]:
    with team.contributor.http(security_server) as http:
        yield http


@pytest.fixture(scope="module")
def reader(security_server: WorkspaceServer, team: Team) -> Iterator[httpx.Client]:
    with team.reader.http(security_server) as http:
        yield http


@pytest.fixture(scope="module")
def upload(contributor: httpx.Client) -> str:
    """An upload of the contributor's (a folder with a model file and a scoring script): ``upload:<hash>``."""
    answer = _upload(contributor, {"weights.txt": "0.5\n", "score.py": "def init():\n    pass\n"})
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


def _secrets(server: WorkspaceServer) -> list[str]:
    return [server.token, (server.home / "token").read_text().strip(), PASSWD_LINE]


def _refused(answer: httpx.Response, field: str) -> str:
    """The answer is a 422 whose message names ``field`` first; the message."""
    assert answer.status_code == 422, f"expected 422, got {answer.status_code}: {answer.text[:500]}"
    message: str = answer.json()["error"]["message"]
    # the resolver's own refusals start "FIELD: …"; a value the door refuses first (a NUL byte: bounded inputs)
    # starts "field 'FIELD': …"
    assert message.startswith((f"{field}: ", f"field '{field}': ")), message
    return message


def _name(kind: str) -> str:
    return f"conf-{kind}-{uuid.uuid4().hex[:6]}-{SUFFIX}"


# Each door that takes a reference -------------------------------------------------------------------
@pytest.mark.parametrize("escape", list(UPLOAD_ESCAPES), ids=list(UPLOAD_ESCAPES))
def test_a_model_from_outside_an_upload_is_refused(contributor: httpx.Client, upload: str, escape: str) -> None:
    name = _name("model")
    body = {"name": name, "path": f"{upload}/{UPLOAD_ESCAPES[escape]}", "type": "custom_model"}
    _refused(contributor.post("/api/v1/models", json=body), "path")
    assert contributor.get(f"/api/v1/models/{name}").status_code == 404, "a model was left behind"


@pytest.mark.parametrize("escape", list(JOB_ESCAPES), ids=list(JOB_ESCAPES))
def test_a_model_from_outside_a_jobs_run_or_output_is_refused(
    contributor: httpx.Client, seeded: Seeded, escape: str
) -> None:
    name = _name("model")
    body = {"name": name, "path": JOB_ESCAPES[escape].format(job=seeded.job), "type": "custom_model"}
    _refused(contributor.post("/api/v1/models", json=body), "path")
    assert contributor.get(f"/api/v1/models/{name}").status_code == 404, "a model was left behind"


@pytest.mark.parametrize("escape", list(UPLOAD_ESCAPES), ids=list(UPLOAD_ESCAPES))
@pytest.mark.parametrize("kind", ["uri_file", "uri_folder"])
def test_data_from_outside_an_upload_is_refused(contributor: httpx.Client, upload: str, escape: str, kind: str) -> None:
    name = _name("data")
    body = {"name": name, "type": kind, "path": f"{upload}/{UPLOAD_ESCAPES[escape]}"}
    _refused(contributor.post("/api/v1/data", json=body), "path")
    assert contributor.get(f"/api/v1/data/{name}/versions/latest").status_code == 404, "a data asset was left behind"


@pytest.mark.parametrize("escape", list(UPLOAD_ESCAPES), ids=list(UPLOAD_ESCAPES))
@pytest.mark.parametrize("kind", ["uri_file", "uri_folder"])
def test_a_job_input_from_outside_an_upload_is_refused(
    contributor: httpx.Client, upload: str, escape: str, kind: str
) -> None:
    name = _name("job")
    body = {
        "name": name, "command": "cat ${{inputs.x}}", "experiment_name": "attack-suite",
        "inputs": {"x": {"type": kind, "path": f"{upload}/{UPLOAD_ESCAPES[escape]}"}},
    }  # fmt: skip
    _refused(contributor.post("/api/v1/jobs", json=body), "inputs.x.path")
    assert contributor.get(f"/api/v1/jobs/{name}").status_code == 404, "a job was left behind"


@pytest.mark.parametrize("code", ["../../..", "../../../..", "%2e%2e/%2e%2e/%2e%2e", "/etc", "..\\..\\.."], ids=str)
def test_a_code_folder_from_outside_an_upload_is_refused(contributor: httpx.Client, upload: str, code: str) -> None:
    name = _name("job")
    body = {"name": name, "command": "ls", "code": f"{upload}/{code}", "experiment_name": "attack-suite"}
    _refused(contributor.post("/api/v1/jobs", json=body), "code")
    assert contributor.get(f"/api/v1/jobs/{name}").status_code == 404, "a job was left behind"


def test_a_deployments_code_and_model_from_outside_an_upload_are_refused(
    contributor: httpx.Client, upload: str, seeded: Seeded
) -> None:
    url = f"/api/v1/online-endpoints/{seeded.endpoint}/deployments"
    code = {"code": f"{upload}/../../..", "scoring_script": "score.py"}
    body = {"name": "conf-code", "endpoint_name": seeded.endpoint, "model": upload, "code_configuration": code}
    _refused(contributor.post(url, json=body), "code_configuration.code")
    body = {
        "name": "conf-model", "endpoint_name": seeded.endpoint, "model": f"{upload}/../../../token",
        "code_configuration": {"code": upload, "scoring_script": "score.py"},
    }  # fmt: skip
    _refused(contributor.post(url, json=body), "model")
    names = [d["name"] for d in contributor.get(url).json()]
    assert "conf-code" not in names and "conf-model" not in names, names


@pytest.mark.parametrize(
    "paths",
    ["[{file: ../../../../token}]", "[{folder: ../../..}]", "[{pattern: '../../../../*'}]", "[{file: /etc/passwd}]"],
)
def test_an_mltable_naming_files_outside_its_folder_is_refused(contributor: httpx.Client, paths: str) -> None:
    answer = _upload(contributor, {"MLTable": f"paths: {paths}\n", "rows.csv": "a\n1\n"})
    assert answer.status_code == 201, answer.text
    name = _name("mltable")
    body = {"name": name, "type": "mltable", "path": answer.json()["reference"]}
    message = _refused(contributor.post("/api/v1/data", json=body), "path")
    assert "paths[0]" in message, message
    assert contributor.get(f"/api/v1/data/{name}/versions/latest").status_code == 404


def test_links_in_an_upload_never_lead_out(
    security_server: WorkspaceServer, contributor: httpx.Client, reader: httpx.Client
) -> None:
    """A link out of the upload is refused at the door; one to a file of the same upload is kept as a copy."""
    token_file = str(security_server.home / "token")
    for target in (token_file, "../../../../token", "/etc/passwd"):
        answer = _upload(contributor, {"weights.txt": "0.5\n", "stolen": ("link", target)})
        assert answer.status_code == 422, f"an upload with a link to {target} was accepted: {answer.text}"
    answer = _upload(contributor, {"weights.txt": "0.5\n", "alias.txt": ("link", "weights.txt")})
    assert answer.status_code == 201, answer.text
    name = _name("model")
    body = {"name": name, "path": answer.json()["reference"], "type": "custom_model"}
    assert contributor.post("/api/v1/models", json=body).status_code == 201
    files = _tar_files(reader.get(f"/api/v1/models/{name}/versions/1/files"))
    assert files == {f"{name}/alias.txt": b"0.5\n", f"{name}/weights.txt": b"0.5\n"}


# What a job leaves in its outputs --------------------------------------------------------------------
LINKING_SCRIPT = """\
import os

token = os.environ["TARGET_TOKEN"]
model = os.environ["AZURE_ML_OUTPUT_model"]
os.makedirs("outputs/nested", exist_ok=True)
with open("outputs/kept.txt", "w") as handle:
    handle.write("kept")
os.symlink(token, "outputs/token")
os.symlink("/etc/passwd", "outputs/passwd")
os.symlink("/etc", "outputs/etc")
os.symlink(os.path.dirname(token), "outputs/nested/home")
with open(os.path.join(model, "weights.txt"), "w") as handle:
    handle.write("0.5")
os.symlink(token, os.path.join(model, "token"))
os.symlink(os.path.dirname(token), os.path.join(model, "home"))
os.makedirs("logs", exist_ok=True)
os.symlink(token, "logs/token")
report(linked=sorted(os.listdir("outputs")))
"""


@pytest.fixture(scope="module")
def linking_job(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> ProbeRun:
    """A contributor's job whose outputs (./outputs, ./logs, a model output) hold links to the token, /etc/passwd,
    /etc and KILN_HOME; it completes, and its model output registers itself."""
    return run_probe_job(
        security_server, team.contributor.token, LINKING_SCRIPT, folder=tmp_path_factory.mktemp("linking"),
        environment_variables={"TARGET_TOKEN": str(security_server.home / "token")},
        outputs={"model": {"type": "custom_model", "name": f"conf-linked-{SUFFIX}"}},
    )  # fmt: skip


def _tar_files(answer: httpx.Response) -> dict[str, bytes]:
    assert answer.status_code == 200, answer.text[:500]
    files = {}
    with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r|") as archive:
        for member in archive:
            assert not (member.issym() or member.islnk()), f"a link was handed out: {member.name}"
            if member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                files[member.name] = handle.read()
    return files


def _holds_no_secret(server: WorkspaceServer, files: dict[str, bytes], where: str) -> None:
    for secret in _secrets(server):
        leaked = [name for name, data in files.items() if secret.encode() in data]
        assert not leaked, f"{where}: {leaked} hold a secret"


def test_links_in_a_jobs_outputs_are_not_kept(
    security_server: WorkspaceServer, reader: httpx.Client, linking_job: ProbeRun
) -> None:
    assert linking_job.report["linked"] == ["etc", "kept.txt", "nested", "passwd", "probe.json", "token"]
    assert "symbolic links are not kept with a job's outputs" in linking_job.log, linking_job.log[-2000:]
    job = linking_job.job.name
    files = _tar_files(reader.get(f"/api/v1/jobs/{job}/outputs/default"))
    assert sorted(files) == ["default/kept.txt", "default/probe.json"], sorted(files)
    _holds_no_secret(security_server, files, "the job's ./outputs")
    model = _tar_files(reader.get(f"/api/v1/jobs/{job}/outputs/model"))
    assert sorted(model) == ["model/weights.txt"], sorted(model)
    logs = reader.get(f"/api/v1/jobs/{job}/outputs/logs")
    assert logs.status_code in (200, 404), logs.text[:300]
    if logs.status_code == 200:
        _holds_no_secret(security_server, _tar_files(logs), "the job's ./logs")


def test_a_model_registered_from_linked_outputs_holds_no_secret(
    security_server: WorkspaceServer, contributor: httpx.Client, reader: httpx.Client, linking_job: ProbeRun
) -> None:
    registered = f"conf-linked-{SUFFIX}"
    files = _tar_files(reader.get(f"/api/v1/models/{registered}/versions/1/files"))
    assert sorted(files) == [f"{registered}/weights.txt"], sorted(files)
    name = _name("model")
    for path in (
        f"azureml://jobs/{linking_job.job.name}/outputs/default",
        f"kiln://jobs/{linking_job.job.name}/outputs/model",
    ):
        answer = contributor.post("/api/v1/models", json={"name": name, "path": path, "type": "custom_model"})
        assert answer.status_code == 201, answer.text
    for version in ("1", "2"):
        files = _tar_files(reader.get(f"/api/v1/models/{name}/versions/{version}/files"))
        _holds_no_secret(security_server, files, f"model {name} version {version}")
    missing = {"name": _name("model"), "path": f"azureml://jobs/{linking_job.job.name}/outputs/default/paths/token"}
    _refused(contributor.post("/api/v1/models", json=missing | {"type": "custom_model"}), "path")


def test_mlflow_holds_no_link_target_of_a_jobs_outputs(
    security_server: WorkspaceServer, reader: httpx.Client, linking_job: ProbeRun
) -> None:
    run_id = linking_job.job.id
    seen: list[str] = []
    folders = ["outputs", "logs"]
    while folders:
        folder = folders.pop()
        listed = reader.get("/mlflow/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": folder})
        assert listed.status_code == 200, listed.text[:300]
        for entry in listed.json().get("files", []):
            (folders if entry["is_dir"] else seen).append(entry["path"])
    assert "outputs/kept.txt" in seen and not any(p.endswith(("token", "passwd")) for p in seen), seen
    for path in ("outputs/token", "outputs/passwd", "logs/token", "outputs/etc/passwd"):
        answer = reader.get("/mlflow/get-artifact", params={"run_uuid": run_id, "path": path})
        assert answer.status_code != 200 or not any(s.encode() in answer.content for s in _secrets(security_server))


LIVE_SCRIPT = """\
import os, time

token = os.environ["TARGET_TOKEN"]
os.makedirs("logs", exist_ok=True)
with open("logs/real.txt", "w") as handle:
    handle.write("live")
os.symlink(token, "logs/token")
os.symlink(os.path.dirname(token), "logs/home")
time.sleep(300)
"""


def test_a_running_jobs_logs_follow_no_link(
    security_server: WorkspaceServer, contributor: httpx.Client, reader: httpx.Client
) -> None:
    """``./logs`` is read from the job's own folder while it runs: its links there are not followed."""
    code = _upload(contributor, {"live.py": LIVE_SCRIPT})
    assert code.status_code == 201, code.text
    name = _name("live")
    body = {
        "name": name, "command": "python live.py", "code": code.json()["reference"], "experiment_name": "attack-suite",
        "environment_variables": {"TARGET_TOKEN": str(security_server.home / "token")},
    }  # fmt: skip
    assert contributor.post("/api/v1/jobs", json=body).status_code == 201
    url = f"/api/v1/jobs/{name}/outputs/logs"
    try:
        wait_for(lambda: reader.get(url).status_code == 200, timeout=180, what="the job's live ./logs")
        files = _tar_files(reader.get(url))
        assert sorted(files) == ["logs/real.txt"], sorted(files)
        _holds_no_secret(security_server, files, "a running job's ./logs")
    finally:
        contributor.post(f"/api/v1/jobs/{name}/cancel")


# And by no route at all -------------------------------------------------------------------------------
def test_a_reader_gets_the_token_by_no_download_route(
    security_server: WorkspaceServer, reader: httpx.Client, linking_job: ProbeRun, seeded: Seeded
) -> None:
    """After every probe above: each model version's files, each data version's content and each job's outputs.
    The attack suite's other modules share this server: a private data version (kiln privacy) and what a job that
    read one wrote are refused to a reader outright, which this checks too."""
    tried = 0
    for model in reader.get("/api/v1/models", params={"include_archived": True}).json():
        for version in model["versions"]:
            files = _tar_files(reader.get(f"/api/v1/models/{model['name']}/versions/{version['version']}/files"))
            _holds_no_secret(security_server, files, f"model {model['name']}:{version['version']}")
            tried += 1
    for data in reader.get("/api/v1/data").json():
        answer = reader.get(f"/api/v1/data/{data['name']}/versions/{data['version']}/content")
        if data.get("privacy"):
            _refused_to_a_reader(answer, f"private data {data['name']}:{data['version']}")
        else:
            _holds_no_secret(security_server, _tar_files(answer), f"data {data['name']}")
        tried += 1
    for job in _jobs(reader):
        view = reader.get(f"/api/v1/jobs/{job}").json()
        read_private = any(pin.get("private") for pin in (view.get("pinned_inputs") or {}).values())
        for output in view.get("outputs", []):
            if output.get("available"):
                answer = reader.get(f"/api/v1/jobs/{job}/outputs/{output['name']}")
                if read_private:
                    _refused_to_a_reader(answer, f"job {job} (read private data) output {output['name']}")
                else:
                    _holds_no_secret(security_server, _tar_files(answer), f"job {job} output {output['name']}")
                tried += 1
    assert tried >= 6, tried


def _refused_to_a_reader(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 403, f"{what}: {answer.status_code} {answer.text[:300]}"
    assert answer.json()["error"]["type"] == "Forbidden", answer.text[:300]


def _jobs(reader: httpx.Client) -> list[str]:
    answer = reader.get("/api/v1/jobs")
    assert answer.status_code == 200, answer.text[:300]
    listed: Any = answer.json()
    items = listed.get("items", listed) if isinstance(listed, dict) else listed
    return [item["name"] for item in items]
