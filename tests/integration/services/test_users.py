"""Users, roles and API tokens end to end: a real server process, real HTTP, the real mlflow client
and the real CLI. Every role against every kind of resource; revoked and expired tokens; hashes at
rest; who created what; a job acting as its creator; ``kiln login``."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from kiln import Client
from kiln.errors import Forbidden, Unauthorized
from kiln.specs.users import Role
from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer, cleanup_jobs, server_env, write_job
from tests.lanes import server_fixture
from tests.unit.environments.test_builder import make_wheel

pytestmark = pytest.mark.slow

SUFFIX = uuid.uuid4().hex[:6]


@dataclass
class Member:
    name: str
    role: Role
    token: str

    def client(self, server: WorkspaceServer) -> Client:
        return Client(url=server.url, token=self.token)

    def http(self, server: WorkspaceServer) -> httpx.Client:
        return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def mlflow(self, server: WorkspaceServer, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", self.token)
        return MlflowClient(tracking_uri=f"{server.url}/mlflow")

    def cli(self, server: WorkspaceServer, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**server.env, "KILN_URL": server.url, "KILN_TOKEN": self.token}
        return subprocess.run(
            [sys.executable, "-m", "kiln", *args], capture_output=True, text=True, env=env, timeout=300, cwd=REPO
        )


@server_fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """A workspace of its own (its database and logs are searched for tokens), with environment
    builds kept offline: a local wheel folder holds a stand-in for the MLflow client kiln adds."""
    wheels = tmp_path_factory.mktemp("wheels")
    make_wheel(wheels, "mlflow-skinny", metadata.version("mlflow"))
    home = tmp_path_factory.mktemp("kiln-users-home")
    env = {k: v for k, v in server_env(home, local_concurrency="2").items() if not k.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    started = WorkspaceServer(home, env).start()
    yield started
    started.stop()
    cleanup_jobs(home)


@pytest.fixture(scope="module")
def team(server: WorkspaceServer) -> dict[Role, Member]:
    """One user per role, each with a token, made with the workspace token (the bootstrap owner)."""
    members = {}
    with server.client() as bootstrap:
        assert bootstrap.users.whoami().model_dump() == {
            "name": "workspace",
            "role": "owner",
            "token_id": None,
            "job": None,
        }
        for role in Role:
            name = f"{role.value}-{SUFFIX}"
            user = bootstrap.users.create(name, role, description=f"the {role.value}")
            assert user.created_by == "workspace" and user.role == role
            members[role] = Member(name, role, bootstrap.users.create_token(name, expires_in="1d").token)
    return members


@dataclass
class Material:
    """What the owner prepared for the others to use: uploads, a model folder, an MLflow experiment."""

    data_file: Path
    model_folder: Path
    experiment_id: str


@pytest.fixture(scope="module")
def material(server: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> Material:
    folder = tmp_path_factory.mktemp("material")
    (folder / "rows.csv").write_text("a,b\n1,2\n")
    (folder / "model").mkdir()
    (folder / "model" / "weights.txt").write_text("0.5\n")
    bootstrap = MlflowClient(tracking_uri=f"{server.url}/mlflow")
    os.environ["MLFLOW_TRACKING_TOKEN"] = server.token
    try:
        experiment_id = bootstrap.create_experiment(f"mlflow-{SUFFIX}")
    finally:
        del os.environ["MLFLOW_TRACKING_TOKEN"]
    return Material(folder / "rows.csv", folder / "model", experiment_id)


# The matrix: every role against every kind of resource ------------------------------------------------
Action = Callable[[Member, WorkspaceServer, Material, pytest.MonkeyPatch], Any]


def _unique(member: Member, kind: str) -> str:
    return f"{kind}-{member.role.value}-{SUFFIX}"


def create_job(member: Member, server: WorkspaceServer, _m: Material, _p: pytest.MonkeyPatch) -> Any:
    with member.client(server) as client:
        return client.jobs.create({"command": "python -c pass", "experiment_name": f"users-{SUFFIX}"}).view


def create_data(member: Member, server: WorkspaceServer, material: Material, _p: pytest.MonkeyPatch) -> Any:
    with member.client(server) as client:
        return client.data.create(name=_unique(member, "data"), type="uri_file", path=material.data_file)


def create_environment(member: Member, server: WorkspaceServer, _m: Material, _p: pytest.MonkeyPatch) -> Any:
    with member.client(server) as client:
        return client.environments.create({"name": _unique(member, "env"), "pip_requirements": []}, wait=False)


def register_model(member: Member, server: WorkspaceServer, material: Material, _p: pytest.MonkeyPatch) -> Any:
    with member.client(server) as client:
        return client.models.create(name=_unique(member, "model"), path=str(material.model_folder), type="custom_model")


def create_endpoint(member: Member, server: WorkspaceServer, _m: Material, _p: pytest.MonkeyPatch) -> Any:
    with member.client(server) as client:
        return client.online_endpoints.create({"name": _unique(member, "ep")})


def create_user(member: Member, server: WorkspaceServer, _m: Material, _p: pytest.MonkeyPatch) -> Any:
    with member.client(server) as client:
        return client.users.create(_unique(member, "user"), Role.READER)


def list_others_tokens(member: Member, server: WorkspaceServer, _m: Material, _p: pytest.MonkeyPatch) -> Any:
    with member.client(server) as client:
        return client.users.list_tokens(f"reader-{SUFFIX}" if member.role != Role.READER else f"owner-{SUFFIX}")


def log_to_mlflow(member: Member, server: WorkspaceServer, material: Material, monkeypatch: pytest.MonkeyPatch) -> Any:
    mlflow = member.mlflow(server, monkeypatch)
    run = mlflow.create_run(material.experiment_id, run_name=_unique(member, "run"))
    mlflow.log_metric(run.info.run_id, "loss", 0.5, step=1)
    mlflow.set_terminated(run.info.run_id)
    return run


def read_everything(
    member: Member, server: WorkspaceServer, material: Material, monkeypatch: pytest.MonkeyPatch
) -> Any:
    with member.client(server) as client:
        seen = [client.jobs.list(), client.data.list(), client.environments.list(), client.models.list()]
        seen += [client.online_endpoints.list(), client.users.list(), client.users.whoami()]
    mlflow = member.mlflow(server, monkeypatch)
    runs = mlflow.search_runs([material.experiment_id])  # a POST that only reads
    seen += [runs, mlflow.search_experiments(), mlflow.search_registered_models(), mlflow.search_model_versions()]
    for run in runs:
        seen.append(mlflow.get_metric_history(run.info.run_id, "loss"))
    return seen


MATRIX: list[tuple[str, Action, Role, str]] = [
    ("jobs", create_job, Role.CONTRIBUTOR, "creating jobs"),
    ("data", create_data, Role.CONTRIBUTOR, "uploading files"),
    ("environments", create_environment, Role.CONTRIBUTOR, "creating environments"),
    ("models", register_model, Role.CONTRIBUTOR, "uploading files"),
    ("endpoints", create_endpoint, Role.CONTRIBUTOR, "creating endpoints"),
    ("users", create_user, Role.OWNER, "creating users"),
    ("tokens of others", list_others_tokens, Role.OWNER, "listing other users' tokens"),
    ("mlflow logging", log_to_mlflow, Role.CONTRIBUTOR, "writing to MLflow"),
    ("reads", read_everything, Role.READER, ""),
]


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
@pytest.mark.parametrize(("kind", "action", "needed", "refusal"), MATRIX, ids=[row[0] for row in MATRIX])
def test_every_role_against_every_resource(
    server: WorkspaceServer, team: dict[Role, Member], material: Material, monkeypatch: pytest.MonkeyPatch,
    kind: str, action: Action, needed: Role, refusal: str, role: Role,
) -> None:  # fmt: skip
    member = team[role]
    if role.allows(needed):
        result = action(member, server, material, monkeypatch)
        creator = getattr(result, "created_by", None)
        if kind not in ("users", "reads", "tokens of others", "mlflow logging"):
            assert creator == member.name, f"{kind} created by {member.name} records {creator!r}"
        return
    error = MlflowException if kind == "mlflow logging" else Forbidden
    with pytest.raises(error) as refused:
        action(member, server, material, monkeypatch)
    message = str(refused.value)
    assert f"user '{member.name}' is a {role.value}; {refusal}" in message
    assert f"needs {needed.and_above()}" in message and member.token not in message
    if kind == "mlflow logging":
        assert "PERMISSION_DENIED" in message


def test_the_matrix_over_plain_http_and_the_role_a_browser_session_carries(
    server: WorkspaceServer, team: dict[Role, Member]
) -> None:
    reader, contributor = team[Role.READER], team[Role.CONTRIBUTOR]
    job = {"command": "python -c pass", "experiment_name": f"users-{SUFFIX}"}
    with reader.http(server) as http:
        assert http.get("/api/v1/jobs").status_code == 200
        refused = http.post("/api/v1/jobs", json=job)
        assert refused.status_code == 403 and refused.json()["error"] == {
            "type": "Forbidden",
            "message": f"user '{reader.name}' is a reader; creating jobs needs contributor or owner",
        }
        for method, path in (
            ("POST", "/api/v1/online-endpoints/x/keys"),  # keys let anyone score: readers get none
            ("DELETE", "/api/v1/online-endpoints/x"),
            ("PATCH", "/api/v1/models/x"),
            ("POST", "/api/v1/tokens/tk_000000000000/revoke"),  # not theirs, not anyone's: 404 after the role check
        ):
            status = http.request(method, path, json={}).status_code
            assert status == (404 if "revoke" in path else 403), (method, path, status)
        search = http.post("/mlflow/api/2.0/mlflow/runs/search", json={"experiment_ids": ["0"]})
        assert search.status_code == 200
        write = http.post("/mlflow/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
        assert write.status_code == 403 and write.json()["error_code"] == "PERMISSION_DENIED"
    with contributor.http(server) as http:
        assert http.post("/api/v1/users", json={"name": f"x-{SUFFIX}", "role": "reader"}).status_code == 403
        assert http.post(f"/api/v1/users/{contributor.name}/tokens", json={"expires_in_seconds": 60}).status_code == 201

    with httpx.Client(base_url=server.url, headers={"accept": "text/html"}) as browser:
        signed_in = browser.post("/login", data={"token": reader.token, "next": "/api/v1/jobs"})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/api/v1/jobs"
        cookie = browser.cookies["kiln_session"]
        assert reader.token not in cookie and "." in cookie
        assert browser.get("/api/v1/jobs").status_code == 200
        assert browser.get("/api/v1/whoami").json()["name"] == reader.name
        assert browser.post("/api/v1/jobs", json=job).status_code == 403  # the session carries the reader's role
        assert browser.post("/login", data={"token": "kiln_guess", "next": "/"}).status_code == 401
    wrong = cookie[:-1] + ("1" if cookie[-1] == "0" else "0")
    for forged in (wrong, f"{cookie[:-2]}\xe9\xe9"):  # a wrong proof, and characters no cookie has
        refused = httpx.get(f"{server.url}/api/v1/jobs", headers={"cookie": f"kiln_session={forged}".encode("latin-1")})
        assert refused.status_code == 401, forged
    wrong_proof = httpx.get(f"{server.url}/api/v1/jobs", headers={"cookie": f"kiln_session={wrong}"})
    assert "session is not valid" in wrong_proof.json()["error"]["message"]


# Tokens: revoked, expired, hashed, never logged ----------------------------------------------------
def test_revoked_and_expired_tokens_are_refused_and_say_why(
    server: WorkspaceServer, team: dict[Role, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    contributor = team[Role.CONTRIBUTOR]
    with contributor.client(server) as client:
        short = client.users.create_token(contributor.name, expires_in=2, description="short")
        doomed = client.users.create_token(contributor.name, expires_in="1h", description="doomed")
    assert short.expires_at is not None and short.token.startswith("kiln_")
    with Client(url=server.url, token=doomed.token) as client:
        assert client.users.whoami().token_id == doomed.id
    with Client(url=server.url, token=short.token) as client:
        assert client.users.whoami().name == contributor.name
    with contributor.client(server) as client:
        revoked = client.users.revoke_token(doomed.id)  # their own token: a contributor may
    assert revoked.state == "revoked" and revoked.revoked_at is not None

    # revocation counts at once on this server, over REST, for the mlflow client and for the CLI
    with Client(url=server.url, token=doomed.token) as client, pytest.raises(Unauthorized) as refused:
        client.jobs.list()
    assert f"({doomed.id}, user '{contributor.name}') was revoked" in refused.value.message
    assert doomed.token not in refused.value.message
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", doomed.token)
    with pytest.raises(MlflowException, match="was revoked"):
        MlflowClient(tracking_uri=f"{server.url}/mlflow").search_experiments()
    cli = Member(contributor.name, contributor.role, doomed.token).cli(server, "job", "list")
    assert cli.returncode == 5 and cli.stderr.startswith("error: the token sent") and "revoked" in cli.stderr

    time.sleep(max(0.0, (short.expires_at - datetime.now(UTC)).total_seconds()) + 0.2)
    with Client(url=server.url, token=short.token) as client, pytest.raises(Unauthorized) as expired:
        client.jobs.list()
    assert f"({short.id}, user '{contributor.name}') expired at" in expired.value.message
    assert f"kiln user token create {contributor.name}" in expired.value.message
    unknown = httpx.get(f"{server.url}/api/v1/jobs", headers={"Authorization": "Bearer kiln_notatoken"})
    assert unknown.status_code == 401 and "not valid for this workspace" in unknown.json()["error"]["message"]
    with team[Role.OWNER].client(server) as owner:
        states = {view.id: view.state for view in owner.users.list_tokens(contributor.name)}
    assert states[short.id] == "expired" and states[doomed.id] == "revoked"


def test_roles_change_at_once_and_deleted_users_tokens_stop_working(server: WorkspaceServer) -> None:
    with server.client() as bootstrap:
        name = f"temp-{SUFFIX}"
        bootstrap.users.create(name, "contributor")
        token = bootstrap.users.create_token(name, expires_in="1h").token
        with Client(url=server.url, token=token) as temp:
            temp.online_endpoints.create({"name": f"ep-temp-{SUFFIX}"})
            assert bootstrap.users.update(name, role="reader").role == Role.READER
            with pytest.raises(Forbidden, match=f"user '{name}' is a reader; creating endpoints"):
                temp.online_endpoints.create({"name": f"ep-temp2-{SUFFIX}"})
            bootstrap.users.delete(name)
            with pytest.raises(Unauthorized):
                temp.online_endpoints.list()
        assert bootstrap.online_endpoints.get(f"ep-temp-{SUFFIX}").created_by == name  # what they made keeps their name


# Who created what ---------------------------------------------------------------------------------
JOB_SCRIPT = """\
import json, os
import mlflow
from mlflow.tracking import MlflowClient
from kiln import Client

with Client() as workspace:
    me = workspace.users.whoami()
mlflow.log_metric("acted", 1.0)
mlflow.log_text("0.5", "model/weights.txt")
client = MlflowClient()
client.create_registered_model(os.environ["MODEL_NAME"])
version = client.create_model_version(
    os.environ["MODEL_NAME"], mlflow.get_artifact_uri("model"), run_id=os.environ["KILN_JOB_ID"]
)
os.makedirs("outputs", exist_ok=True)
with open("outputs/who.json", "w") as handle:
    record = {"whoami": me.model_dump(mode="json"), "version": version.version, "token": os.environ["KILN_TOKEN"]}
    json.dump(record, handle)
"""


def test_a_job_acts_as_its_creator_with_a_token_that_ends_with_it(
    server: WorkspaceServer, team: dict[Role, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contributor = team[Role.CONTRIBUTOR]
    model = f"job-model-{SUFFIX}"
    job_file = write_job(
        tmp_path / "job",
        f"command: python main.py\ncode: ./src\nexperiment_name: users-{SUFFIX}\n"
        f"environment_variables: {{MODEL_NAME: {model}}}\n",
        {"main.py": JOB_SCRIPT},
    )
    with contributor.client(server) as client:
        job = client.jobs.create(job_file).wait(timeout=240)
        assert job.status == JobStatus.COMPLETED, "".join(client.jobs.logs(job.name))
        assert job.view.created_by == contributor.name
        client.jobs.download(job.name, tmp_path / "out")
        version = client.models.get_version(model, "1")
    who = json.loads((tmp_path / "out" / "default" / "who.json").read_text())
    assert who["whoami"]["name"] == contributor.name and who["whoami"]["role"] == "contributor"
    assert who["whoami"]["job"] == job.id and who["token"] not in (contributor.token, server.token)
    assert version.created_by == contributor.name and version.job == job.name  # registered through /mlflow
    run = team[Role.OWNER].mlflow(server, monkeypatch).get_run(job.id)
    assert run.data.tags["mlflow.user"] == contributor.name and run.data.metrics["acted"] == 1.0
    with Client(url=server.url, token=who["token"]) as after, pytest.raises(Unauthorized, match="ends with it"):
        after.jobs.list()
    shown = json.loads(contributor.cli(server, "job", "show", "-n", job.name, "-o", "json").stdout)
    assert shown["created_by"] == contributor.name
    assert f"by {contributor.name}" in contributor.cli(server, "job", "show", "-n", job.name).stdout


def test_the_creator_tag_of_a_model_version_is_kiln_s(
    server: WorkspaceServer, team: dict[Role, Member], material: Material, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, contributor = team[Role.OWNER], team[Role.CONTRIBUTOR]
    with owner.client(server) as client:
        registered = client.models.create(name=f"tagged-{SUFFIX}", path=str(material.model_folder), type="custom_model")
    assert registered.created_by == owner.name and "kiln.created_by" not in registered.tags
    mlflow = contributor.mlflow(server, monkeypatch)
    with pytest.raises(MlflowException, match="kiln.created_by' is kept by kiln"):
        mlflow.set_model_version_tag(registered.name, registered.version, "kiln.created_by", contributor.name)
    with pytest.raises(MlflowException, match="kept by kiln"):
        mlflow.delete_model_version_tag(registered.name, registered.version, "kiln.created_by")
    mlflow.set_model_version_tag(registered.name, registered.version, "stage", "review")  # other tags: as usual
    shown = json.loads(owner.cli(server, "model", "show", "-n", registered.name, "-v", "1", "-o", "json").stdout)
    assert shown["created_by"] == owner.name and shown["tags"]["stage"] == "review"


def test_a_deployment_records_its_creator_and_readers_cannot_deploy(
    server: WorkspaceServer, team: dict[Role, Member], material: Material, tmp_path: Path
) -> None:
    reader, contributor = team[Role.READER], team[Role.CONTRIBUTOR]
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text("def init():\n    pass\n\ndef run(raw_data):\n    return {'ok': True}\n")
    endpoint = f"deploy-{SUFFIX}"
    deployment = {
        "name": "blue", "endpoint_name": endpoint, "model": f"kiln:model-{Role.CONTRIBUTOR.value}-{SUFFIX}:1",
        "code_configuration": {"code": str(code), "scoring_script": "score.py"},
        "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60},
    }  # fmt: skip
    with contributor.client(server) as client:
        register_model(contributor, server, material, pytest.MonkeyPatch())  # the matrix may not have run first
        client.online_endpoints.create({"name": endpoint})
        with reader.http(server) as http:  # (the SDK would upload the code first, and be refused that)
            refused = http.post(
                f"/api/v1/online-endpoints/{endpoint}/deployments", json={**deployment, "code_configuration": None}
            )
        assert refused.status_code == 403
        assert refused.json()["error"]["message"].endswith("deploying models needs contributor or owner")
        try:
            view = client.online_deployments.create(dict(deployment), all_traffic=True, timeout=240)
            assert view.created_by == contributor.name and view.state.value == "succeeded"
            assert client.online_endpoints.get(endpoint).created_by == contributor.name
            keys = client.online_endpoints.get_keys(endpoint)
            answer = httpx.post(
                client.online_endpoints.get(endpoint).scoring_uri, json={"data": [1]},
                headers={"Authorization": f"Bearer {keys.primary_key}"}, timeout=60,
            )  # fmt: skip
            assert answer.status_code == 200 and answer.json() == {"ok": True}  # endpoint keys: untouched
            shown = contributor.cli(server, "online-deployment", "show", "-n", "blue", "-e", endpoint)
            assert f"created by {contributor.name}" in shown.stdout
        finally:
            client.online_endpoints.delete(endpoint)


# The CLI --------------------------------------------------------------------------------------------
def test_the_cli_shows_refusals_and_manages_users_and_tokens(
    server: WorkspaceServer, team: dict[Role, Member], tmp_path: Path
) -> None:
    reader, contributor, owner = team[Role.READER], team[Role.CONTRIBUTOR], team[Role.OWNER]
    job_file = write_job(tmp_path, f"command: python -c pass\nexperiment_name: users-{SUFFIX}\n")
    refused = reader.cli(server, "job", "create", "-f", str(job_file))
    assert refused.returncode == 5
    assert (
        refused.stderr.strip() == f"error: user '{reader.name}' is a reader; creating jobs needs contributor or owner"
    )
    assert reader.cli(server, "model", "list", "-o", "json").returncode == 0
    denied = contributor.cli(server, "user", "create", f"cli-{SUFFIX}", "--role", "reader")
    assert denied.returncode == 5 and "creating users needs owner" in denied.stderr

    made = owner.cli(server, "user", "create", f"cli-{SUFFIX}", "--role", "reader", "-o", "json")
    assert made.returncode == 0 and json.loads(made.stdout)["created_by"] == owner.name
    token = owner.cli(server, "user", "token", "create", f"cli-{SUFFIX}", "--expires-in", "2h", "-d", "ci")
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip()
    assert secret.startswith("kiln_") and "\n" not in secret and "shown this once" in token.stderr
    listed = owner.cli(server, "user", "token", "list", f"cli-{SUFFIX}", "-o", "json")
    (view,) = json.loads(listed.stdout)
    assert secret not in listed.stdout and secret.startswith(view["prefix"]) and view["description"] == "ci"
    assert owner.cli(server, "user", "update", f"cli-{SUFFIX}", "--role", "contributor").returncode == 0
    newcomer = Member(f"cli-{SUFFIX}", Role.CONTRIBUTOR, secret)
    assert "(contributor)" in newcomer.cli(server, "user", "whoami").stdout
    assert owner.cli(server, "user", "token", "revoke", view["id"]).returncode == 0
    after = newcomer.cli(server, "user", "whoami")
    assert after.returncode == 5 and "revoked" in after.stderr
    bad = owner.cli(server, "user", "token", "create", f"cli-{SUFFIX}", "--expires-in", "soon")
    assert bad.returncode == 2 and "--expires-in: 'soon' is not a duration" in bad.stderr
    gone = owner.cli(server, "user", "delete", f"cli-{SUFFIX}")
    assert gone.returncode == 0 and owner.cli(server, "user", "show", f"cli-{SUFFIX}").returncode == 3


def test_a_readers_job_submission_is_refused_and_leaves_nothing_behind(
    server: WorkspaceServer, team: dict[Role, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = team[Role.READER]
    job_file = write_job(tmp_path, "command: python main.py\ncode: ./src\n", {"main.py": "print('never')\n"})

    def recorded() -> tuple[set[str], int, int]:
        with server.client() as bootstrap:
            jobs = {job.name for job in bootstrap.jobs.list(limit=10_000)}
        mlflow = team[Role.OWNER].mlflow(server, monkeypatch)
        runs = sum(len(mlflow.search_runs([e.experiment_id], max_results=5000)) for e in mlflow.search_experiments())
        snapshots = server.home / "artifacts" / "snapshots"
        return jobs, runs, len(list(snapshots.iterdir())) if snapshots.exists() else 0

    before = recorded()
    result = reader.cli(server, "job", "create", "-f", str(job_file))
    assert result.returncode == 5 and f"user '{reader.name}' is a reader" in result.stderr
    with reader.http(server) as http:  # straight at /jobs too
        refused = http.post("/api/v1/jobs", json={"command": "python -c pass", "name": f"never-{SUFFIX}"})
        assert refused.status_code == 403
    assert recorded() == before


def test_login_stores_the_token_and_the_cli_then_uses_it(
    server: WorkspaceServer, team: dict[Role, Member], tmp_path: Path
) -> None:
    contributor = team[Role.CONTRIBUTOR]
    home = tmp_path / "home"
    env = {k: v for k, v in server.env.items() if not k.startswith("KILN_")}
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")})

    def kiln(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kiln", *args], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
        )

    wrong = kiln("login", server.url, "--token", "kiln_wrong")
    assert wrong.returncode == 5 and "not valid" in wrong.stderr
    stored = home / ".config" / "kiln" / "login.json"
    assert not stored.exists()
    logged_in = kiln("login", server.url + "/", "--token", contributor.token)
    assert logged_in.returncode == 0, logged_in.stderr
    assert f"as {contributor.name} (contributor)" in logged_in.stdout
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert json.loads(stored.read_text()) == {"url": server.url, "token": contributor.token}
    listed = kiln("job", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert any(job["created_by"] == contributor.name for job in json.loads(listed.stdout))
    assert contributor.name in kiln("user", "whoami").stdout
    assert not (home / ".kiln").exists()  # no embedded workspace was started
    out = kiln("logout")
    assert out.returncode == 0 and not stored.exists()
    assert "not logged in" in kiln("logout").stdout


# Last, so that every token above has been used --------------------------------------------------------
def test_tokens_are_hashed_at_rest_and_no_token_reaches_a_log(
    server: WorkspaceServer, team: dict[Role, Member]
) -> None:
    tokens = [member.token for member in team.values()]
    database = sqlite3.connect(server.home / "kiln.db")
    try:
        stored = {row[0]: row[1] for row in database.execute("select token_hash, user_name from api_tokens")}
    finally:
        database.close()
    for member in team.values():
        assert stored[hashlib.sha256(member.token.encode()).hexdigest()] == member.name
    searched = 0
    for path in server.home.rglob("*"):  # the database (and its WAL), MLflow's store, every log
        if path.is_file() and not path.is_symlink() and path.name != "token":
            content = path.read_bytes()
            searched += 1
            for token in tokens:
                assert token.encode() not in content, f"a token was written to {path}"
    assert searched > 5 and any(p.name.startswith("server-") for p in server.home.iterdir())
