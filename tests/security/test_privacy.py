"""Probes of kiln privacy: a private data version's raw rows are read by owners only, at every door: the data
download, the studio's preview, job inputs (submit and rerun), what a job that read it wrote (its log, its
outputs, its MLflow artifacts), the workspace export. Others may read its budget (readers) and query it
(contributors). No probe here needs the privacy engine: each refusal comes before any query runs."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from kiln import api
from kiln.errors import Forbidden, InvalidSpec
from kiln.privacy import api as privacy_api
from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer
from tests.security.conftest import Team

METADATA = {"max_ids": 1, "pid": {"type": "int", "private_id": True}, "age": {"type": "int", "lower": 0, "upper": 99}}
SECRET_ID = "918273645"  # a value of the raw rows a probe looks for in what it reads


@pytest.fixture(scope="module")
def private(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("private-data")
    (folder / "ages.csv").write_text(f"pid,age\n{SECRET_ID},73\n2,41\n3,29\n")
    name = f"ages_{uuid.uuid4().hex[:6]}"
    spec = {
        "name": name, "version": "1", "type": "uri_file", "path": str(folder / "ages.csv"),
        "privacy": {"epsilon": 1.0, "delta": 1e-6, "metadata": METADATA},
    }  # fmt: skip
    with team.owner.client(security_server) as owner:
        owner.data.create(spec)
    return name


@pytest.fixture(scope="module")
def owners_job(security_server: WorkspaceServer, team: Team, private: str) -> str:
    """A job of the owner's that read the private version and wrote its rows to its log, outputs and MLflow."""
    spec = {
        "command": "cat ${{inputs.rows}} && cp ${{inputs.rows}} ./outputs/rows.csv && "
        "python -c \"import mlflow; mlflow.log_artifact('./outputs/rows.csv')\"",
        "inputs": {"rows": {"type": "uri_file", "path": f"kiln:{private}:1"}},
        "experiment_name": "attack-suite",
        "privacy": {"epsilon": 0.1, "delta": 0.0},
    }
    with team.owner.client(security_server) as owner:
        job = owner.jobs.create(spec).wait(timeout=240)
        assert job.status == JobStatus.COMPLETED, "".join(owner.jobs.logs(job.name))[-2000:]
        return job.name


def content_path(name: str) -> str:
    return api.data.CONTENT.path.format(name=name, version="1")


def test_only_owners_download_or_preview_a_private_version(
    security_server: WorkspaceServer, team: Team, private: str
) -> None:
    for member in (team.reader, team.contributor):
        with member.http(security_server) as http:
            refused = http.get(content_path(private))
            assert refused.status_code == 403 and "is private" in refused.json()["error"]["message"]
            page = http.get(f"/ui/data/{private}/1")
            assert page.status_code == 200 and "shown to owners only" in page.text
            assert f"<td>{SECRET_ID}</td>" not in page.text
            assert http.get(f"/api/v1/data/{private}/versions/1").json()["privacy"]["epsilon"] == 1.0
            assert private in http.get("/ui/privacy").text  # the private versions, and each one's budget and ledger
            ledger = http.get(f"/ui/privacy/{private}/1")
            assert ledger.status_code == 200 and "The ledger" in ledger.text and SECRET_ID not in ledger.text
    with team.owner.http(security_server) as owner:
        assert owner.get(content_path(private)).status_code == 200
        assert f"<td>{SECRET_ID}</td>" in owner.get(f"/ui/data/{private}/1").text


def test_only_owners_submit_or_rerun_jobs_that_read_a_private_version(
    security_server: WorkspaceServer, team: Team, private: str, owners_job: str
) -> None:
    spec = {"command": "cat ${{inputs.rows}}", "inputs": {"rows": {"type": "uri_file", "path": f"kiln:{private}:1"}}}
    for mode in ("download", "ro_mount"):
        spec["inputs"]["rows"]["mode"] = mode  # type: ignore[index]
        with team.contributor.client(security_server) as contributor, pytest.raises(Forbidden, match="private data"):
            contributor.jobs.create(spec)
    with team.contributor.http(security_server) as http:
        refused = http.post(api.jobs.RERUN.path.format(name=owners_job))
        assert refused.status_code == 403 and "private data version" in refused.text


def test_what_a_job_that_read_private_data_wrote_is_for_owners_only(
    security_server: WorkspaceServer, team: Team, owners_job: str
) -> None:
    paths = [
        api.jobs.LOGS.path.format(name=owners_job),
        api.jobs.OUTPUT.path.format(name=owners_job, output="default"),
        api.jobs.OUTPUT_FILES.path.format(name=owners_job, output="default"),
        api.jobs.OUTPUT_FILE.path.format(name=owners_job, output="default") + "?path=rows.csv",
        f"/ui/jobs/{owners_job}/outputs/default",
    ]
    with team.owner.client(security_server) as owner:
        run_id = owner.jobs.get(owners_job).id
    mlflow_paths = [
        f"/mlflow/api/2.0/mlflow/artifacts/list?run_id={run_id}",
        f"/mlflow/get-artifact?run_uuid={run_id}&path=rows.csv",
        f"/mlflow/ajax-api/2.0/mlflow/artifacts/list?run_id={run_id}",
    ]
    for member in (team.reader, team.contributor):
        with member.http(security_server) as http:
            for path in paths + mlflow_paths:
                answer = http.get(path)
                assert answer.status_code == 403, (member.name, path, answer.status_code)
                assert SECRET_ID not in answer.text
    with team.owner.http(security_server) as owner:
        for path in paths + mlflow_paths[:1]:
            assert owner.get(path).status_code == 200, path
        assert SECRET_ID in owner.get(paths[0]).text  # the log: the owner's job printed the rows


def test_the_workspace_export_is_for_owners_only(security_server: WorkspaceServer, team: Team, private: str) -> None:
    for member in (team.reader, team.contributor):
        with member.http(security_server) as http:
            assert http.get(api.workspace.EXPORT.path).status_code == 403


def test_readers_read_budgets_contributors_query_and_bad_requests_are_refused(
    security_server: WorkspaceServer, team: Team, private: str, owners_job: str
) -> None:
    budget = privacy_api.BUDGET.path.format(name=private, version="1")
    query = privacy_api.QUERY.path.format(name=private, version="1")
    body = {"sql": f"SELECT COUNT(*) AS n FROM {private}", "epsilon": 0.1}
    synthesize = privacy_api.SYNTHESIZE.path.format(name=private, version="1")
    synthesis = {"synthesizer": "mst", "epsilon": 0.1, "rows": 10, "name": f"{private}-synth"}
    with team.reader.http(security_server) as reader:
        answer = reader.get(budget)
        assert answer.status_code == 200 and answer.json()["remaining_epsilon"] == pytest.approx(0.9)  # the job's 0.1
        assert reader.post(query, json=body).status_code == 403
        assert reader.post(synthesize, json=synthesis).status_code == 403
    with team.contributor.http(security_server) as contributor:
        for bad in ({**body, "epsilon": 0}, {**body, "epsilon": -1}, {**body, "epsilon": 1e9}, {"sql": "x"},
                    {**body, "delta": 1.5}, {**body, "rows": True}):  # fmt: skip
            assert contributor.post(query, json=bad).status_code == 422, bad
        assert contributor.post(query.replace(private, "no-such-asset"), json=body).status_code == 404
        for bad in ({**synthesis, "synthesizer": "dpctgan"}, {**synthesis, "rows": 0}, {**synthesis, "name": "../x"},
                    {**synthesis, "epsilon": 0}, {**synthesis, "rows": 10**9}):  # fmt: skip
            assert contributor.post(synthesize, json=bad).status_code == 422, bad
    for token in (None, team.expired, team.revoked):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        assert httpx.get(security_server.url + budget, headers=headers).status_code == 401
        assert httpx.post(security_server.url + query, json=body, headers=headers).status_code == 401
    with team.owner.client(security_server) as owner:
        assert [c.kind for c in owner.privacy.budget(private, "1").charges] == ["job"]  # nothing above was charged


def test_a_private_version_cannot_be_remote_or_unchecked(
    security_server: WorkspaceServer, team: Team, tmp_path: Path
) -> None:
    (tmp_path / "ages.csv").write_text("pid,age\n1,old\n")
    spec = {
        "name": f"ages_{uuid.uuid4().hex[:6]}", "version": "1", "type": "uri_file", "path": str(tmp_path / "ages.csv"),
        "privacy": {"epsilon": 1.0, "delta": 1e-6, "metadata": METADATA},
    }  # fmt: skip
    with team.owner.client(security_server) as owner, pytest.raises(InvalidSpec, match="declared int, but line 2"):
        owner.data.create(spec)


def test_no_one_sets_a_model_s_privacy_tags_by_hand(security_server: WorkspaceServer, team: Team) -> None:
    """privacy.* tags are a model's guarantee, set by kiln from the ledger when a charged job registers its model:
    registering or updating with them is refused for every role, before anything else is looked at."""
    forged = {"privacy.epsilon": "0.01", "privacy.data": "ages:1"}
    for member in (team.contributor, team.owner):
        with member.http(security_server) as http:
            made = http.post(api.models.CREATE.path, json={"name": "forged", "path": "upload:x", "tags": forged})
            assert made.status_code == 422 and "privacy guarantee" in made.json()["error"]["message"], made.text
            changed = http.patch(api.models.UPDATE.path.format(name="forged"), json={"tags": forged})
            assert changed.status_code == 422 and "privacy guarantee" in changed.json()["error"]["message"]
