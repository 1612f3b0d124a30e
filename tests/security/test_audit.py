"""The audit log, probed as an attacker would (issue 20); and the public JSON Schemas beside it.

- Only owners read it: readers and contributors are refused, and so is a job's own token (it acts as its
  creator, a contributor).
- Nothing alters it through kiln: no route takes PUT, PATCH, DELETE or POST on it, for an owner or the
  workspace token; after the attempts the log reads exactly as before, but for the entries of the changes
  made meanwhile.
- A refused change leaves no entry (a reader's create, a contributor's user); a change a job makes with its
  token is recorded as the job's creator, via the job.
- No secret reaches it: a token made, the datastore credential given and the endpoint's keys are nowhere in it.
- A deployment made with all traffic and a traffic change are recorded with the deployment and the split; reading
  an endpoint's keys is not a change.
- ``/schemas/<kind>.json``, public, holds no workspace data.
"""

from __future__ import annotations

import json
from typing import Any

from kiln import api
from tests.conftest import WorkspaceServer
from tests.security.conftest import SUFFIX, Seeded, Team, bearer_http, probe_in_job

SECRET = "audit-probe-secret-5c1e"


def _log(server: WorkspaceServer, team: Team) -> list[dict[str, Any]]:
    with team.owner.http(server) as http:
        answer = http.get(api.audit.LIST.url())
        assert answer.status_code == 200, answer.text
        entries: list[dict[str, Any]] = answer.json()
        return entries


def test_only_owners_read_the_audit_log(security_server: WorkspaceServer, team: Team) -> None:
    for member in (team.reader, team.contributor):
        with member.http(security_server) as http:
            answer = http.get(api.audit.LIST.url(), params={"user": team.owner.name})
        assert answer.status_code == 403, (member.role, answer.text)
        assert "reading the audit log needs owner" in answer.json()["error"]["message"]
    for token in (None, team.revoked.token, team.expired.token):
        with bearer_http(security_server, token) as http:
            assert http.get(api.audit.LIST.url()).status_code == 401
    with bearer_http(security_server, team.workspace_token) as http:
        assert http.get(api.audit.LIST.url()).status_code == 200


def test_nothing_alters_the_audit_log(security_server: WorkspaceServer, team: Team) -> None:
    before = _log(security_server, team)
    assert before, "the team's set-up made users and tokens: the log has their entries"
    attempts = []
    for token in (team.owner.token, team.workspace_token):
        with bearer_http(security_server, token) as http:
            for method in ("PUT", "PATCH", "DELETE", "POST"):
                for path in ("/api/v1/audit", f"/api/v1/audit/{before[0]['id']}", "/api/v1/audit/entries"):
                    answer = http.request(method, path, json=[{"id": before[0]["id"], "user": "nobody"}])
                    attempts.append((method, path, answer.status_code))
    assert {status for _, _, status in attempts} <= {404, 405}, attempts
    assert _log(security_server, team)[: len(before)] == before


def test_a_refused_change_writes_nothing_and_a_jobs_change_names_its_creator_via_the_job(
    security_server: WorkspaceServer, team: Team
) -> None:
    before = _log(security_server, team)[-1]["id"]
    with team.reader.http(security_server) as http:
        refused = http.post(api.computes.CREATE.url(), json={"name": f"refused-{SUFFIX}", "type": "local"})
    with team.contributor.http(security_server) as http:
        also_refused = http.post(api.users.CREATE.url(), json={"name": f"refused-{SUFFIX}", "role": "owner"})
    assert (refused.status_code, also_refused.status_code) == (403, 403)
    name = f"job-made-{SUFFIX}"
    script = f"""
import os, httpx
http = httpx.Client(base_url=os.environ["KILN_URL"], headers={{"Authorization": "Bearer " + os.environ["KILN_TOKEN"]}})
made = http.post("{api.computes.CREATE.url()}", json={{"name": "{name}", "type": "local"}})
read = http.get("{api.audit.LIST.url()}")
report(made=made.status_code, read=[read.status_code, read.json()], job=os.environ.get("KILN_JOB_ID"))
"""
    reported = probe_in_job(security_server, team.contributor.token, script)
    assert reported["made"] == 201 and reported["read"][0] == 403, reported
    after = [entry for entry in _log(security_server, team) if entry["id"] > before]
    assert not [entry for entry in after if entry["name"] == f"refused-{SUFFIX}"]
    made = [entry for entry in after if entry["name"] == name]
    assert [(e["action"], e["user"], e["via"]) for e in made] == [
        ("computes.create", team.contributor.name, f"job {reported['job']}")
    ]
    with team.owner.http(security_server) as http:
        assert http.delete(api.computes.DELETE.url(name=name)).status_code == 204


def test_no_secret_reaches_the_audit_log(security_server: WorkspaceServer, team: Team) -> None:
    with team.owner.client(security_server) as owner:
        token = owner.users.create_token(team.owner.name, expires_in="1h", description="audit probe")
        owner.users.revoke_token(token.id)
    store = {
        "name": f"audit-store-{SUFFIX}", "type": "s3", "bucket": "models",
        "credentials": {"access_key_id": "AKIAPROBE", "secret_access_key": SECRET},
    }  # fmt: skip
    with team.contributor.http(security_server) as http:
        made = http.post(api.datastores.CREATE.url(), json=store)
        assert made.status_code == 201, made.text
        assert http.delete(api.datastores.DELETE.url(name=store["name"])).status_code == 204
    entries = _log(security_server, team)
    text = json.dumps(entries)
    assert token.token not in text and SECRET not in text
    created = [e for e in entries if e["action"] == "datastores.create" and e["name"] == store["name"]]
    assert created and "credentials" in created[0]["detail"]["fields"]  # the field is named, its value is not


def test_the_public_schemas_hold_no_workspace_data(
    security_server: WorkspaceServer, team: Team, seeded: Seeded
) -> None:
    """``/schemas/<kind>.json`` needs no token (an editor sends none): it must hold kiln's field definitions only."""
    from kiln.specs.json_schemas import schema_kinds

    with bearer_http(security_server, None) as http:
        answers = {kind: http.get(f"/schemas/{kind}.json") for kind in schema_kinds()}
        refused = [http.request(method, "/schemas/job.json").status_code for method in ("PUT", "POST", "DELETE")]
        escaped = http.get("/schemas/..%2Fapi%2Fv1%2Fusers.json")
    assert {kind: answer.status_code for kind, answer in answers.items()} == dict.fromkeys(schema_kinds(), 200)
    text = "".join(answer.text for answer in answers.values())
    for secret in (team.workspace_token, team.owner.token, team.owner.name, seeded.job, seeded.model, seeded.endpoint):
        assert secret not in text
    assert set(refused) == {405} and escaped.status_code == 404


def test_a_deployment_and_its_traffic_are_recorded_and_reading_keys_is_not(
    security_server: WorkspaceServer, team: Team, seeded: Seeded, seeded_deployment: str
) -> None:
    with team.contributor.client(security_server) as client:
        client.online_endpoints.update(seeded.endpoint, traffic={seeded_deployment: 100})  # as it was: no change
        keys = client.online_endpoints.get_keys(seeded.endpoint)
    entries = [entry for entry in _log(security_server, team) if entry["name"] == seeded.endpoint]
    made = next(e for e in entries if e["action"] == "deployments.create")
    assert (made["kind"], made["user"], made["detail"]["result"], made["detail"]["all_traffic"]) == (
        "deployment", team.contributor.name, seeded_deployment, "true",
    )  # fmt: skip
    traffic = entries[-1]  # (regenerating keys is recorded too: tests/integration/audit; not here, the keys are shared)
    assert (traffic["action"], traffic["detail"]["traffic"]) == ("endpoints.update", {seeded_deployment: 100})
    assert "endpoints.keys" not in {entry["action"] for entry in entries}  # reading the keys is not a change
    text = json.dumps(entries)
    assert keys.primary_key not in text and keys.secondary_key not in text
