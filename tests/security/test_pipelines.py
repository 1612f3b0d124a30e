"""Probes of pipelines and components: who may create a component (a reader may not; nobody without a token) and
read one; a component's code path cannot leave its upload; a pipeline cannot reach private data, neither as its
own input nor through another job's outputs that read some; its steps are the submitter's command jobs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from kiln.errors import Forbidden, InvalidSpec
from kiln.pipelines import api
from tests.conftest import WorkspaceServer
from tests.security.conftest import Team, bearer_http
from tests.security.test_privacy import METADATA, owners_job, private  # noqa: F401  (module fixtures, reused)

COMPONENT = {"type": "command", "command": "echo ${{inputs.x}}", "inputs": {"x": {"type": "string", "default": "a"}}}


def test_a_reader_cannot_create_a_component_but_reads_them(security_server: WorkspaceServer, team: Team) -> None:
    name = f"sec_comp_{uuid.uuid4().hex[:6]}"
    with team.reader.client(security_server) as reader, pytest.raises(Forbidden):
        reader.components.create({**COMPONENT, "name": name})
    for token in (None, team.expired.token, team.revoked.token):
        with bearer_http(security_server, token) as anonymous:
            assert anonymous.post(api.CREATE.path, json={**COMPONENT, "name": name}).status_code == 401
            assert anonymous.get(api.LIST.path).status_code == 401
    with team.contributor.client(security_server) as contributor, team.reader.client(security_server) as reader:
        made = contributor.components.create({**COMPONENT, "name": name})
        assert made.created_by == team.contributor.name
        assert reader.components.get(name, "1").command == COMPONENT["command"]
        assert name in [view.name for view in reader.components.list()]


@pytest.mark.parametrize("code", ["upload:0/../../", "/etc", "upload:" + "0" * 64 + "/../../token", "../.."])
def test_a_component_s_code_cannot_leave_its_upload(security_server: WorkspaceServer, team: Team, code: str) -> None:
    component = {**COMPONENT, "name": "escape", "code": code}
    pipeline = {"type": "pipeline", "experiment_name": "attack-suite", "jobs": {"step": {"component": component}}}
    with bearer_http(security_server, team.contributor.token) as http:
        made = http.post(api.CREATE.path, json=component)
        assert made.status_code == 422, made.text
        submitted = http.post("/api/v1/jobs", json=pipeline)
        if code.startswith("upload:"):  # refused at submit, naming the step
            assert submitted.status_code == 422 and "jobs.step.code" in submitted.json()["error"]["message"]
            return
    # a path on the client's machine (the CLI would have uploaded it): the step is refused, nothing is read
    assert submitted.status_code == 201, submitted.text
    with team.contributor.client(security_server) as contributor:
        ended = contributor.jobs.get(submitted.json()["name"]).wait(timeout=60)
        assert ended.status.value == "failed" and "not an uploaded path" in (ended.view.failure_reason or "")
        assert contributor.jobs.search(tags={"kiln.parent": ended.name})[0] == []


def test_a_pipeline_cannot_reach_private_data(
    security_server: WorkspaceServer,
    team: Team,
    private: str,  # noqa: F811  (test_privacy's fixture)
    owners_job: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    direct = {"type": "pipeline", "inputs": {"rows": {"type": "uri_file", "path": f"kiln:{private}:1"}},
              "jobs": {"leak": {"command": "cat ${{inputs.rows}}", "inputs": {"rows": "${{parent.inputs.rows}}"}}}}  # fmt: skip
    through_a_job = {"type": "pipeline", "jobs": {"leak": {
        "command": "cat ${{inputs.rows}}/rows.csv",
        "inputs": {"rows": {"type": "uri_folder", "path": f"azureml://jobs/{owners_job}/outputs/default"}}}}}  # fmt: skip
    in_a_step = {"type": "pipeline", "jobs": {"leak": {
        "command": "cat ${{inputs.rows}}", "inputs": {"rows": {"type": "uri_file", "path": f"kiln:{private}:1"}}}}}  # fmt: skip
    for member in (team.contributor, team.owner):  # not even the owner: steps are run with no role to spend budget
        with member.client(security_server) as client:
            for spec in (direct, through_a_job, in_a_step):
                with pytest.raises((InvalidSpec, Forbidden)) as refused:
                    client.jobs.create(spec)
                assert "private" in refused.value.message, refused.value.message
