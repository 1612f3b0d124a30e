"""Probes of ``models.convert`` and the ``model_conversion`` job kind: who may convert (contributor and owner,
not a reader), references that try to leave their root or name something other than a registered model or
data asset, and what a model's own code can reach when a conversion loads it (the job's sandbox, never the
workspace server)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from sklearn.linear_model import LogisticRegression

from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer
from tests.security.conftest import SUFFIX, Seeded, Team

MODEL = f"sec-convert-{SUFFIX}"


@pytest.fixture(scope="module")
def convertible(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small scikit-learn model the contributor registered."""
    folder = tmp_path_factory.mktemp("convertible") / "model"
    X = np.random.default_rng(0).random((40, 3))
    model = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    mlflow.sklearn.save_model(model, str(folder), input_example=X[:3], pip_requirements=["scikit-learn"])
    with team.contributor.client(security_server) as client:
        return client.models.create(name=MODEL, path=str(folder)).version


def test_a_reader_may_not_convert_a_contributor_and_an_owner_may(
    security_server: WorkspaceServer, team: Team, convertible: str
) -> None:
    path = f"/api/v1/models/{MODEL}/versions/{convertible}/convert"
    refused = team.reader.http(security_server).post(path, json={})
    assert refused.status_code == 403 and "converting models needs contributor or owner" in refused.text
    jobs = []
    for member in (team.contributor, team.owner):
        answer = member.http(security_server).post(path, json={"name": f"{MODEL}-by-{member.role.value}"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["type"] == "model_conversion" and answer.json()["created_by"] == member.name
        jobs.append(answer.json()["name"])
    with team.owner.client(security_server) as client:
        for job in jobs:
            assert client.jobs.get(job).wait(timeout=300).status == JobStatus.COMPLETED
        # the registered version was made by the job acting as its creator, not by the workspace
        assert client.models.get_version(f"{MODEL}-by-contributor", "1").created_by == team.contributor.name


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/models/..%2F..%2Fetc/versions/1/convert", {}, (404, 422)),
        ("/api/v1/models/{model}/versions/..%2F1/convert", {}, (404, 422)),
        ("/api/v1/models/{model}/versions/1/convert", {"data": "../../../etc/passwd"}, (422,)),
        ("/api/v1/models/{model}/versions/1/convert", {"data": "/etc/passwd"}, (422,)),
        ("/api/v1/models/{model}/versions/1/convert", {"data": "upload:" + "0" * 64}, (422,)),
        ("/api/v1/models/{model}/versions/1/convert", {"data": "azureml://jobs/x/outputs/default"}, (422,)),
        ("/api/v1/models/{model}/versions/1/convert", {"to": "pickle"}, (422,)),
        ("/api/v1/models/{model}/versions/1/convert", {"tolerance": 1e9}, (422,)),
        ("/api/v1/models/{model}/versions/1/convert", {"name": "a/../../b"}, (422,)),
        ("/api/v1/models/{model}/versions/1/convert", {"command": "cat /etc/shadow"}, (422,)),
    ],
)  # {model}: filled in at run time (the name is random, the ids may not be: xdist compares collections)
def test_references_that_leave_their_root_or_name_no_asset_are_refused(
    security_server: WorkspaceServer, team: Team, convertible: str, path: str, body: dict, status: tuple[int, ...]
) -> None:  # type: ignore[type-arg]
    answer = team.contributor.http(security_server).post(path.format(model=MODEL), json=body)
    assert answer.status_code in status, answer.text
    assert answer.json()["error"]["type"] in ("NotFound", "InvalidSpec")


def test_a_model_conversion_job_cannot_be_pointed_at_files_or_given_inputs_of_its_own(
    security_server: WorkspaceServer, team: Team, seeded: Seeded
) -> None:
    http = team.contributor.http(security_server)
    for spec, field in (
        ({"model": "kiln:../../etc:1"}, "model"),
        ({"model": f"runs:/{seeded.job}/model"}, "model"),
        ({"model": f"kiln:{MODEL}@latest"}, "model"),
        ({"model": f"kiln:{MODEL}:1", "inputs": {"model": {"type": "uri_folder", "path": "/etc"}}}, "inputs"),
        ({"model": f"kiln:{MODEL}:1", "outputs": {"model": {"type": "mlflow_model", "name": seeded.model}}}, "outputs"),
        ({"model": f"kiln:{MODEL}:1", "data": f"azureml://jobs/{seeded.job}/outputs/default"}, "data"),
    ):
        answer = http.post("/api/v1/jobs", json={"type": "model_conversion", **spec})
        assert answer.status_code == 422, (spec, answer.text)
        assert field in answer.json()["error"]["message"], answer.text
    custom = http.post(f"/api/v1/models/{seeded.model}/versions/{seeded.model_version}/convert", json={})
    assert custom.status_code == 422 and "only mlflow_model versions" in custom.text


class _LoadsAProbe:
    """A 'model' whose unpickling runs code: what a hostile model does when a conversion loads it."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (self.code,)


PROBE = """
import json, os
found = {{"job": os.environ.get("KILN_JOB_ID"), "kiln_home_seen": os.path.exists({home!r} + "/kiln.db")}}
for name, path in (("token", {home!r} + "/token"), ("passwd_write", "/etc/passwd")):
    try:
        if name == "passwd_write":
            open(path, "a").close()
        else:
            open(path).read()
        found[name] = "REACHED"
    except Exception as error:
        found[name] = type(error).__name__
os.makedirs("outputs", exist_ok=True)
json.dump(found, open("outputs/probe.json", "w"))
"""


def test_a_hostile_model_runs_only_inside_the_conversion_jobs_sandbox(
    security_server: WorkspaceServer, team: Team, tmp_path: Path
) -> None:
    folder = tmp_path / "hostile"
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype("float64"), (-1, 2))]))
    mlflow.sklearn.save_model(
        _LoadsAProbe(PROBE.format(home=str(security_server.home))), str(folder), signature=signature,
        serialization_format="cloudpickle", pip_requirements=["scikit-learn"],
    )  # fmt: skip
    with team.contributor.client(security_server) as client:
        client.models.create(name=f"{MODEL}-hostile", path=str(folder))
        job = client.models.convert(f"{MODEL}-hostile", "1", wait=True, timeout=300)
        assert job.status == JobStatus.FAILED  # it is no model: the conversion names what it found
        assert "has no predict" in "".join(client.jobs.logs(job.name))
        (kept,) = client.jobs.download(job.name, tmp_path / "out", output_name="default")
    found = json.loads((kept / "probe.json").read_text())
    assert found["job"] == job.id  # it ran in the job's process, with the job's variables
    # in the job sandbox, as every job (SECURITY.md): the workspace's home hidden, the machine read-only
    assert job.view.isolation is not None and job.view.isolation.startswith("sandboxed (bubblewrap"), job.view.isolation
    assert found["kiln_home_seen"] is False and found["token"] == "FileNotFoundError", found
    assert found["passwd_write"] in ("OSError", "PermissionError"), found  # read-only (EROFS), or not its file
    with team.owner.client(security_server) as client:
        assert not [m for m in client.models.list() if m.name == f"{MODEL}-hostile-onnx"]
