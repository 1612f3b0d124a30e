"""Every declared REST operation, and every MLflow write through ``/mlflow``, tried as an attacker would: with
no token, a wrong, expired, revoked or ended job's token, and as each role below the one the operation
declares. The operations come from the contract (``kiln.api`` and the built-in capabilities), so a new
operation is probed the day it is declared; path parameters are real names from the seeded set, and a
refused request carries the body that would have done harm (a reader making themselves owner).

After the refusals, the workspace must be as it was (``test_the_refused_requests_changed_nothing``), and the
role an operation declares must get past the role check (an answer the OpenAPI document declares, never
401/403 or a 5xx), so a declaration stricter than the code, or looser, is caught here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kiln.api import Operation
from kiln.capabilities import load_capabilities, rest_contract
from kiln.specs.users import Role
from kiln.tracking.mlflow_access import mlflow_path
from tests.conftest import WorkspaceServer
from tests.security.conftest import SUFFIX, Member, Seeded, Team, bearer_http, probe_in_job

CONTRACT = rest_contract(load_capabilities())
OPERATIONS = sorted(CONTRACT.values(), key=lambda operation: operation.name)
IDS = [operation.name for operation in OPERATIONS]
MADE_UP = "no-such-name-" + SUFFIX

# What a caller without the role would send to do harm, by operation (bodies only; paths hold real names).
ATTACK_BODIES: dict[str, Any] = {
    "jobs.create": {"command": "cat $KILN_HOME/token", "experiment_name": "attack"},
    "jobs.validate": {"command": "cat $KILN_HOME/token", "experiment_name": "attack", "code": "upload:0/../../"},
    "environments.create": {"name": f"attack-env-{SUFFIX}", "pip_requirements": ["evil-package"]},
    "data.create": {"name": f"attack-data-{SUFFIX}", "type": "uri_file", "path": "upload:0/../../token"},
    "models.create": {"name": "{model}", "path": "upload:0/../../token", "type": "custom_model"},
    "models.update": {"description": "defaced", "tags": {"kiln.created_by": "mallory"}},
    "models.set_alias": {"version": "1"},
    "models.convert": {"name": "{model}", "data": "upload:0/../../token"},  # overwrite a model, read the token
    "endpoints.create": {"name": f"attack-ep-{SUFFIX}"},
    "endpoints.update": {"traffic": {}, "description": "defaced"},
    "endpoints.regenerate_keys": {"key_type": "primary"},
    "endpoints.invoke": {"body": {"input_data": {"data": [[1.0, 2.0, 3.0, 4.0]]}}},  # scoring without a key
    "deployments.create": {"name": "red", "endpoint_name": "{endpoint}", "model": "kiln:{model}:1"},
    "deployments.update": {"name": "blue", "endpoint_name": "{endpoint}", "model": "kiln:{model}:1"},
    "users.create": {"name": f"mallory-{SUFFIX}", "role": "owner"},
    "users.update": {"role": "owner"},
    "users.create_token": {"expires_in_seconds": 3600, "description": "mine now"},
    "computes.create": {"name": f"attack-ray-{SUFFIX}", "type": "ray", "address": "http://127.0.0.1:1"},
    "datastores.create": {"name": f"attack-ds-{SUFFIX}", "type": "https", "url": "http://127.0.0.1:1"},
    "privacy.query": {"sql": "SELECT * FROM t", "epsilon": 100},
    "privacy.synthesize": {"synthesizer": "mst", "epsilon": 100, "rows": 1000000, "name": f"attack-synth-{SUFFIX}"},
    "models.compare": {"candidate": "1", "baseline": "1", "metrics": [{"name": "accuracy"}]},
    "rollouts.start": {"deployment": "blue", "steps": [100], "window_seconds": 3600},  # all traffic, unwatched
    "schedules.create": {
        "name": f"attack-schedule-{SUFFIX}",
        "trigger": {"type": "cron", "expression": "* * * * *"},
        "create_job": {"command": "cat $KILN_HOME/token", "experiment_name": "attack"},
    },  # fmt: skip
    "components.create": {"name": f"attack-component-{SUFFIX}", "command": "cat token", "code": "upload:0/../../"},
    "batch_endpoints.create": {"name": f"attack-batch-{SUFFIX}"},
    "batch_endpoints.invoke": {"input": "upload:0/../../token"},  # score the workspace's token as a data set
    "batch_deployments.create": {
        "name": "red",
        "endpoint_name": "{endpoint}",
        "model": "kiln:{model}:1",
        "code_configuration": {"code": "upload:0/../../", "scoring_script": "token"},
    },
}
RAW_ATTACK = {"uploads.create": b"not a tar", "workspace.import": b"not a tar either"}
# streams that would last minutes: one snapshot is enough to see who gets past the role check
STREAM_QUERY: dict[str, dict[str, str]] = {"endpoints.metrics_stream": {"snapshots": "1"}}


def attack_request(operation: Operation[Any], seeded: Seeded, caller: Member | None) -> dict[str, Any]:
    """The request a caller without the role would send: real names, a harmful body. A user's own name stands in
    for ``{name}`` in ``users.*`` (making oneself owner is the escalation to try)."""
    values = seeded.values_for(operation)
    if operation.tag == "users" and "name" in values and caller is not None:
        values["name"] = caller.name
    request: dict[str, Any] = {"method": operation.method, "url": operation.url(**values)}
    if operation.name in STREAM_QUERY:
        request["params"] = STREAM_QUERY[operation.name]
    if operation.body is not None:
        assert operation.name in ATTACK_BODIES, f"{operation.name} takes a body: add its attack to ATTACK_BODIES"
        text = json.dumps(ATTACK_BODIES[operation.name])
        request["json"] = json.loads(text.replace("{model}", seeded.model).replace("{endpoint}", seeded.endpoint))
    elif operation.raw_body is not None:
        request["content"] = RAW_ATTACK[operation.name]
        request["headers"] = {"content-type": operation.raw_body}
    return request


def harmless_request(operation: Operation[Any], seeded: Seeded) -> dict[str, Any]:
    """What the role itself sends to show it gets past the role check without changing anything: reads with real
    names; changes aimed at names that do not exist, or with a body no operation accepts (a JSON list)."""
    reading = operation.method == "GET"
    values = seeded.values_for(operation) if reading else dict.fromkeys(operation.path_parameters, MADE_UP)
    request: dict[str, Any] = {"method": operation.method, "url": operation.url(**values)}
    if operation.name in STREAM_QUERY:
        request["params"] = STREAM_QUERY[operation.name]
    if operation.body is not None:
        request["json"] = []
    elif operation.raw_body is not None:  # refused for its query: every raw-body operation takes a choice
        request["content"] = b""
        request["params"] = dict.fromkeys(operation.query, "\x00not-a-choice")
    return request


# Fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def openapi(security_server: WorkspaceServer) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{security_server.url}/openapi.json", timeout=60).json()
    return document


@pytest.fixture(scope="module")
def callers(security_server: WorkspaceServer, team: Team, seeded: Seeded) -> Iterator[dict[str, httpx.Client]]:
    """One keep-alive client per credential, for the whole module."""
    tokens: dict[str, str | None] = {
        "none": None, "wrong": "kiln_" + "A" * 43, "not-bearer": None, "expired": team.expired.token,
        "revoked": team.revoked.token, "job-ended": seeded.job_token,
        **{member.role.value: member.token for member in team.members},
    }  # fmt: skip
    clients = {name: bearer_http(security_server, token) for name, token in tokens.items()}
    clients["not-bearer"].headers["Authorization"] = f"Basic {team.workspace_token}"
    clients["forged-session"] = bearer_http(security_server, None)
    clients["forged-session"].headers["cookie"] = f"kiln_session={team.reader.token_id}.{'0' * 64}"
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def before(security_server: WorkspaceServer, team: Team, seeded: Seeded, seeded_deployment: str) -> dict[str, Any]:
    """The workspace as the owner sees it, before any probe (with a live deployment to aim at)."""
    return workspace_state(security_server, team, seeded)


def workspace_state(server: WorkspaceServer, team: Team, seeded: Seeded) -> dict[str, Any]:
    """What the probes aim at, in full, and the names of everything else (so that nothing new appears).
    Only names for the rest: a job or a build another module of this worker left running may end meanwhile."""
    with team.owner.client(server) as owner:
        dump = lambda view: view.model_dump(mode="json")  # noqa: E731
        return {
            "names": {
                "jobs": sorted(job.name for job in owner.jobs.list(limit=1000)),
                "models": sorted(model.name for model in owner.models.list(include_archived=True)),
                "data": sorted(asset.name for asset in owner.data.list(include_archived=True)),
                "endpoints": sorted(endpoint.name for endpoint in owner.online_endpoints.list()),
                "computes": sorted(compute.name for compute in owner.computes.list()),
                "environments": sorted(environment.name for environment in owner.environments.list()),
            },
            "job": dump(owner.jobs.get(seeded.job).view),
            "model": [dump(owner.models.get(seeded.model)), dump(owner.models.get_version(seeded.model, "1"))],
            "data": [dump(view) for view in owner.data.list(name=seeded.data, include_archived=True)],
            "endpoint": [
                dump(owner.online_endpoints.get(seeded.endpoint)),
                owner.online_endpoints.get_keys(seeded.endpoint).model_dump(mode="json"),
            ],
            "deployments": [
                (d.name, d.state.value, d.model, d.created_by) for d in owner.online_deployments.list(seeded.endpoint)
            ],
            "users": [dump(user) for user in owner.users.list()],
            "tokens": {member.name: [dump(t) for t in owner.users.list_tokens(member.name)] for member in team.members},
        }


# The probes --------------------------------------------------------------------------------------
def test_the_probes_cover_every_operation_the_server_serves(openapi: dict[str, Any]) -> None:
    served = {op["operationId"] for methods in openapi["paths"].values() for op in methods.values()}
    assert served == set(CONTRACT)
    assert len(OPERATIONS) >= 62


def test_readers_operations_only_read_and_only_owners_manage_users_and_the_workspace() -> None:
    """The roles declared in the contract, against a rule written here (the probes below trust the declarations)."""
    readers = {op.name for op in OPERATIONS if op.role is Role.READER and op.method != "GET"}
    # their own tokens only (kiln.services.users checks whose), and a one-time studio link for themselves (kiln ui);
    # models.compare is a POST for its body only: it reads two versions' run metrics, which readers may read anyway
    assert readers == {"users.revoke_token", "users.sign_in_code", "models.compare"}
    owners = {op.name for op in OPERATIONS if op.role is Role.OWNER}
    assert owners == {
        "users.create", "users.update", "users.delete", "workspace.export", "workspace.import", "audit.list",
    }  # fmt: skip


UNAUTHORIZED = {
    "none": "this workspace needs a token",
    "wrong": "the token sent is not valid for this workspace",
    "not-bearer": "the Authorization header is not 'Bearer <token>'",
    "expired": "expired at",
    "revoked": "was revoked",
    "job-ended": "was revoked: it was job",  # the seeded job's own token, ended with the job
    "forged-session": "this browser's session is not valid for this workspace",  # a browser cookie, not a token
}


@pytest.mark.parametrize("operation", OPERATIONS, ids=IDS)
def test_an_operation_refuses_a_missing_wrong_expired_or_revoked_token_saying_which(
    operation: Operation[Any], callers: dict[str, httpx.Client], seeded: Seeded, team: Team, before: dict[str, Any]
) -> None:
    request = attack_request(operation, seeded, None)
    answers = {name: callers[name].request(**request) for name in UNAUTHORIZED}
    for name, answer in answers.items():
        assert answer.status_code == 401, (name, answer.status_code, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer", name
        error = answer.json()["error"]
        assert error["type"] == "Unauthorized", name
        assert UNAUTHORIZED[name] in error["message"], (name, error["message"])
        for secret in (team.expired.token, team.revoked.token, team.workspace_token, seeded.job_token):
            assert secret is None or secret not in answer.text, name


@pytest.mark.parametrize("operation", OPERATIONS, ids=IDS)
def test_an_operation_refuses_each_role_below_its_own_and_lets_its_own_past(
    operation: Operation[Any], callers: dict[str, httpx.Client], seeded: Seeded, team: Team,
    openapi: dict[str, Any], before: dict[str, Any],
) -> None:  # fmt: skip
    for role in Role:
        member = team.member(role)
        if role.allows(operation.role):
            continue
        answer = callers[role.value].request(**attack_request(operation, seeded, member))
        assert answer.status_code == 403, (role.value, answer.status_code, answer.text)
        assert answer.json()["error"] == {
            "type": "Forbidden",
            "message": f"user '{member.name}' is a {role.value}; {operation.action} needs {operation.role.and_above()}",
        }, role.value

    own = team.member(operation.role)
    answer = callers[own.role.value].request(**harmless_request(operation, seeded))
    declared = openapi["paths"][operation.path][operation.method.lower()]["responses"]
    assert answer.status_code not in (401, 403), (own.role.value, answer.status_code, answer.text)
    assert answer.status_code < 500, (own.role.value, answer.status_code, answer.text)
    assert str(answer.status_code) in declared, (answer.status_code, sorted(declared), answer.text)


def test_a_jobs_code_and_output_files_are_read_inside_them_only(
    callers: dict[str, httpx.Client], seeded: Seeded, team: Team, before: dict[str, Any]
) -> None:
    """The studio's file routes (jobs.code_files, code_file, output_files, output_file) and its live metric stream,
    as a reader: the code snapshot's own files only, never a path that leads out of it."""
    reader = callers["reader"]
    listed = reader.get(f"/api/v1/jobs/{seeded.job}/code/files")
    assert [file["path"] for file in listed.json()["files"]] == ["probe.py"], listed.text
    assert b"report(" in reader.get(f"/api/v1/jobs/{seeded.job}/code/file", params={"path": "probe.py"}).content
    secrets = [secret for secret in (team.workspace_token, seeded.job_token) if secret]
    for url in (f"/api/v1/jobs/{seeded.job}/code/file", f"/api/v1/jobs/{seeded.job}/outputs/{seeded.job_output}/file"):
        for path in ("../../token", "/etc/passwd", "probe.py/../../../../token", "%2e%2e/%2e%2e/token", ""):
            answer = reader.get(url, params={"path": path})
            assert answer.status_code in (404, 422), (url, path, answer.status_code, answer.text[:200])
            assert not any(secret in answer.text for secret in secrets)
    stream = reader.get(f"/api/v1/jobs/{seeded.job}/metrics/stream")  # the job has ended: the stream ends too
    assert stream.headers["content-type"].startswith("text/event-stream") and "event: end" in stream.text


# Through /mlflow ---------------------------------------------------------------------------------
def mlflow_calls() -> list[tuple[str, str]]:
    """(method, rule) of every endpoint MLflow's own server declares (``/api/2.0/mlflow/webhooks/<webhook_id>``)."""
    from mlflow.server import app as mlflow_app

    calls = {
        (method, rule.rule)
        for rule in mlflow_app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    return sorted(calls)


# The POSTs a reader may make: MLflow's searches, which send their filters as a body. Written out here, not
# read from kiln.tracking.mlflow_access, so that a write added to kiln's list is caught by these probes.
READER_MAY_POST = {
    "/api/2.0/mlflow/experiments/search", "/api/2.0/mlflow/experiments/search-datasets",
    "/api/2.0/mlflow/runs/search", "/api/2.0/mlflow/logged-models/search",
    "/api/2.0/mlflow/registered-models/get-latest-versions", "/api/2.0/mlflow/artifacts/presigned-download-url",
    "/api/3.0/mlflow/traces/search", "/api/3.0/mlflow/traces/batchGetInfos", "/api/3.0/mlflow/traces/metrics",
    "/api/3.0/mlflow/traces/calculate-filter-correlation", "/api/3.0/mlflow/issues/search",
    "/api/3.0/mlflow/datasets/search", "/api/3.0/mlflow/prompt-optimization/jobs/search", "/graphql",
}  # fmt: skip
MLFLOW_CALLS = mlflow_calls()
MLFLOW_WRITES = [
    (method, rule)
    for method, rule in MLFLOW_CALLS
    if method != "GET" and not (method == "POST" and mlflow_path(rule) in READER_MAY_POST)
]
_VARIABLE = re.compile(r"<(?:[a-z]+:)?([A-Za-z_]+)>")


def mlflow_url(rule: str, run: dict[str, Any]) -> str:
    """``/mlflow`` + the rule with its variables filled: artifact paths aim into the seeded job's run."""
    artifact = f"{run['experiment_id']}/{run['run_id']}/artifacts/planted.txt"
    return "/mlflow" + _VARIABLE.sub(lambda match: artifact if match.group(1) == "artifact_path" else "1", rule)


@pytest.fixture(scope="module")
def seeded_run(callers: dict[str, httpx.Client], seeded: Seeded) -> dict[str, Any]:
    """The seeded job's MLflow run (a job and its run share one id)."""
    answer = callers["owner"].get("/mlflow/api/2.0/mlflow/runs/get", params={"run_id": seeded.job_id})
    assert answer.status_code == 200, answer.text
    info: dict[str, Any] = answer.json()["run"]["info"]
    return info


def mlflow_state(http: httpx.Client, seeded: Seeded, run: dict[str, Any]) -> dict[str, str]:
    """What MLflow answers the owner about the seeded run and model, the experiments, the run's artifacts and
    the webhooks (as text: an answer that is not JSON counts too)."""
    api = "/mlflow/api/2.0/mlflow"
    return {
        "run": http.get(f"{api}/runs/get", params={"run_id": run["run_id"]}).text,
        "model": http.get(f"{api}/registered-models/get", params={"name": seeded.model}).text,
        "versions": http.post(f"{api}/model-versions/search", json={}).text,
        "experiments": http.post(f"{api}/experiments/search", json={"max_results": 1000}).text,
        "artifacts": http.get(f"{api}/artifacts/list", params={"run_id": run["run_id"]}).text,
        "webhooks": http.get(f"{api}/webhooks").text,
    }


def mlflow_body(seeded: Seeded, run: dict[str, Any]) -> dict[str, Any]:
    """One body that names real things for every MLflow write: the fields each endpoint reads are there."""
    return {
        "run_id": run["run_id"], "run_uuid": run["run_id"], "experiment_id": run["experiment_id"],
        "name": seeded.model, "version": "1", "alias": "champion", "key": "kiln.created_by", "value": "mallory",
        "new_name": f"stolen-{SUFFIX}", "source": "/etc", "timestamp": 0, "step": 0,
        "metrics": [{"key": "loss", "value": 9.0, "timestamp": 0, "step": 0}], "url": "http://127.0.0.1:1/",
        "events": ["model_version.created"],
    }  # fmt: skip


def test_readers_are_refused_every_mlflow_write(
    callers: dict[str, httpx.Client], seeded: Seeded, seeded_run: dict[str, Any], team: Team
) -> None:
    assert len(MLFLOW_WRITES) > 100  # MLflow's table was read
    reader = callers["reader"]
    state = mlflow_state(callers["owner"], seeded, seeded_run)
    assert seeded_run["run_id"] in state["run"] and seeded.model in state["model"]
    body = mlflow_body(seeded, seeded_run)
    let_through = []
    for method, rule in MLFLOW_WRITES:
        url = mlflow_url(rule, seeded_run)
        answer = reader.request(method, url, json=body) if method != "PUT" else reader.put(url, content=b"planted")
        called = f"{method} {mlflow_path(url.removeprefix('/mlflow'))}"
        expected = f"user '{team.reader.name}' is a reader; writing to MLflow ({called}) needs contributor or owner"
        if answer.status_code != 403 or answer.json().get("error_code") != "PERMISSION_DENIED":
            let_through.append((method, rule, answer.status_code, answer.text[:200]))
        elif answer.json()["message"] != expected:
            let_through.append((method, rule, "message", answer.json()["message"]))
    assert let_through == []
    assert mlflow_state(callers["owner"], seeded, seeded_run) == state
    reads = reader.get("/mlflow/api/2.0/mlflow/runs/get", params={"run_id": seeded_run["run_id"]})
    assert reads.status_code == 200  # the probes aim where a reader may read: the refusals are for writing


def test_mlflow_refuses_every_call_without_a_valid_token(
    callers: dict[str, httpx.Client], seeded: Seeded, seeded_run: dict[str, Any]
) -> None:
    body = mlflow_body(seeded, seeded_run)
    let_through = []
    for method, rule in MLFLOW_CALLS:
        for name in ("none", "wrong", "expired", "revoked"):
            answer = callers[name].request(method, mlflow_url(rule, seeded_run), json=body)
            if answer.status_code != 401 or answer.json().get("error_code") != "UNAUTHENTICATED":
                let_through.append((name, method, rule, answer.status_code))
    assert let_through == []


# Afterwards (before any test that changes the workspace) ----------------------------------------
def test_the_refused_requests_changed_nothing(
    security_server: WorkspaceServer, team: Team, seeded: Seeded, before: dict[str, Any]
) -> None:
    assert workspace_state(security_server, team, seeded) == before


# A job's own token (it adds a job: after the check above) ---------------------------------------
ESCALATION_PROBE = """\
import os
import httpx

http = httpx.Client(base_url=os.environ["KILN_URL"], headers={"Authorization": "Bearer " + os.environ["KILN_TOKEN"]})
me = http.get("/api/v1/whoami").json()
minted = http.post(f"/api/v1/users/{me['name']}/tokens", json={"never_expires": True})
raised = http.patch(f"/api/v1/users/{me['name']}", json={"role": "owner"})
report(whoami=me, minted=[minted.status_code, minted.json()], raised=[raised.status_code, raised.json()])
"""


def test_a_jobs_own_token_can_neither_mint_a_lasting_token_nor_raise_its_creator(
    security_server: WorkspaceServer, team: Team
) -> None:
    contributor = team.contributor
    found = probe_in_job(security_server, contributor.token, ESCALATION_PROBE)
    assert found["whoami"]["name"] == contributor.name and found["whoami"]["job"]
    assert found["minted"] == [403, {"error": {"type": "Forbidden", "message": JOB_TOKEN_REFUSAL}}]
    assert found["raised"] == [
        403,
        {
            "error": {
                "type": "Forbidden",
                "message": f"user '{contributor.name}' is a contributor; changing users needs owner",
            }
        },
    ]
    with team.owner.client(security_server) as owner:
        assert owner.users.get(contributor.name).role == Role.CONTRIBUTOR
        assert [t.id for t in owner.users.list_tokens(contributor.name) if t.state == "active"] == [
            contributor.token_id
        ]


JOB_TOKEN_REFUSAL = "a job's own token cannot create API tokens; ask an owner for one"
