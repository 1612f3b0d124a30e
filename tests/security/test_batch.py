"""Probes of batch endpoints: who may create and invoke (contributor and owner; a reader reads), which credential
invokes (a workspace user's token, never an online endpoint's key nor no token), and what an invocation or a
deployment can name (no input, code or scoring script outside its upload, no local path of the server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WorkspaceServer
from tests.security.conftest import SUFFIX, Seeded, Team, bearer_http

ENDPOINT = f"sec-batch-{SUFFIX}"
SCRIPT = "def init():\n    pass\n\n\ndef run(mini_batch):\n    return [len(mini_batch)]\n"


@pytest.fixture(scope="module")
def batch_endpoint(
    security_server: WorkspaceServer, team: Team, seeded: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A batch endpoint of the contributor's, with a scripted deployment of the seeded custom model as its default."""
    code = tmp_path_factory.mktemp("batch-code")
    (code / "score.py").write_text(SCRIPT)
    with team.contributor.client(security_server) as client:
        client.batch_endpoints.create({"name": ENDPOINT})
        client.batch_deployments.create({
            "name": "blue", "endpoint_name": ENDPOINT, "model": f"kiln:{seeded.model}:{seeded.model_version}",
            "code_configuration": {"code": str(code), "scoring_script": "score.py"},
        })  # fmt: skip
    return ENDPOINT


def test_a_reader_may_read_but_not_create_or_invoke_a_contributor_and_an_owner_may_invoke(
    security_server: WorkspaceServer, team: Team, seeded: Seeded, batch_endpoint: str
) -> None:
    reader = team.reader.http(security_server)
    assert reader.get(f"/api/v1/batch-endpoints/{batch_endpoint}").json()["default_deployment"] == "blue"
    refused = reader.post("/api/v1/batch-endpoints", json={"name": f"reader-batch-{SUFFIX}"})
    assert refused.status_code == 403 and "creating batch endpoints needs contributor or owner" in refused.text
    body = {"input": f"kiln:{seeded.data}:{seeded.data_version}", "input_type": "uri_file"}
    refused = reader.post(f"/api/v1/batch-endpoints/{batch_endpoint}/jobs", json=body)
    assert refused.status_code == 403 and "invoking batch endpoints needs contributor or owner" in refused.text
    for member in (team.contributor, team.owner):
        answer = member.http(security_server).post(f"/api/v1/batch-endpoints/{batch_endpoint}/jobs", json=body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["type"] == "batch_scoring" and answer.json()["created_by"] == member.name
    listed = reader.get(f"/api/v1/batch-endpoints/{batch_endpoint}/jobs").json()
    assert {job["created_by"] for job in listed} >= {team.contributor.name, team.owner.name}


def test_no_token_and_an_online_endpoints_key_are_refused(
    security_server: WorkspaceServer, team: Team, seeded: Seeded, batch_endpoint: str
) -> None:
    body = {"input": f"kiln:{seeded.data}:{seeded.data_version}"}
    with team.contributor.client(security_server) as client:
        key = client.online_endpoints.get_keys(seeded.endpoint).primary_key
    for token in (None, key):
        answer = bearer_http(security_server, token).post(f"/api/v1/batch-endpoints/{batch_endpoint}/jobs", json=body)
        assert answer.status_code == 401, answer.text


@pytest.mark.parametrize(
    "given",
    [
        "upload:0/../../token", "upload:" + "0" * 64, "/etc/passwd", "../../../etc/passwd", "file:///etc/passwd",
        "kiln:../../token", "~/token",
    ],
)  # fmt: skip
def test_an_input_outside_its_root_is_refused_before_any_job(
    security_server: WorkspaceServer, team: Team, batch_endpoint: str, given: str
) -> None:
    http = team.contributor.http(security_server)
    before = len(http.get(f"/api/v1/batch-endpoints/{batch_endpoint}/jobs").json())
    answer = http.post(f"/api/v1/batch-endpoints/{batch_endpoint}/jobs", json={"input": given})
    assert answer.status_code in (404, 422), answer.text
    assert answer.json()["error"]["type"] in ("InvalidSpec", "NotFound")
    assert len(http.get(f"/api/v1/batch-endpoints/{batch_endpoint}/jobs").json()) == before


@pytest.mark.parametrize(
    ("code", "script"),
    [("upload:0/../..", "token"), ("{code}", "../../../../token"), ("{code}", "/etc/passwd"), ("/etc", "passwd")],
)
def test_a_deployments_code_and_script_stay_inside_their_upload(
    security_server: WorkspaceServer,
    team: Team,
    seeded: Seeded,
    batch_endpoint: str,
    tmp_path: Path,
    code: str,
    script: str,
) -> None:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "score.py").write_text(SCRIPT)
    with team.contributor.client(security_server) as client:
        uploaded = client.batch_deployments.get("blue", batch_endpoint).spec["code_configuration"]["code"]
    spec = {
        "name": "escape", "endpoint_name": batch_endpoint, "model": f"kiln:{seeded.model}:{seeded.model_version}",
        "code_configuration": {"code": code.replace("{code}", uploaded), "scoring_script": script},
    }  # fmt: skip
    answer = team.contributor.http(security_server).post(
        f"/api/v1/batch-endpoints/{batch_endpoint}/deployments", json=spec
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["type"] == "InvalidSpec"


def test_a_reader_sees_the_endpoints_page_with_its_deployments_and_invocations_and_no_token(
    security_server: WorkspaceServer, team: Team, batch_endpoint: str
) -> None:
    from tests.security.test_studio import sign_in

    with team.contributor.client(security_server) as client:
        jobs = client.batch_endpoints.list_jobs(batch_endpoint)
    browser = sign_in(security_server, team.reader.token)
    page = browser.get("/ui/batch-endpoints")
    browser.close()
    assert page.status_code == 200, page.text
    assert f'id="batch-{batch_endpoint}"' in page.text and "score.py" in page.text and "default" in page.text
    assert all(f"/ui/jobs/{job.name}" in page.text for job in jobs[:10])
    assert team.reader.token not in page.text and team.contributor.token not in page.text
