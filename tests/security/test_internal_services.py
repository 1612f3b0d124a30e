"""Internal services answer only the workspace server (issue 11), probed as an attacker on the machine would.

- MLflow's child: its port is in ``KILN_HOME/mlflow/process.json`` and in ``/proc``; a raw HTTP client
  (and a contributor's job) gets 403 for every read and write, with or without a token, the forged
  ``kiln.created_by`` and the artifact PUT included, and nothing it tried is left behind. The real
  ``mlflow`` client through ``/mlflow`` keeps working.
- A scoring replica: its port is in ``/proc``; without the gateway's secret nothing is answered, not
  even its health; its config file (which holds the secret) is the server user's only. Scoring
  through the gateway with a key works.
- Readers (and everyone else) see no replica port or pid through the API or the CLI.
- One ``Authorization`` parser: REST, ``/mlflow`` and the gateway accept and refuse the same headers.
- Without a key, an unknown endpoint answers exactly as a known one does.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import psutil
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kiln.specs.users import Role
from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, write_job
from tests.lanes import server_fixture

pytestmark = pytest.mark.slow

SUFFIX = uuid.uuid4().hex[:6]
ENDPOINT = f"ep{SUFFIX}"  # 8 characters, as long as UNKNOWN
UNKNOWN = f"no{SUFFIX}"
IRIS = load_iris(as_frame=True)
SAMPLE = {"input_data": {"columns": list(IRIS.data.columns), "data": IRIS.data.iloc[:2].values.tolist()}}
MLFLOW_REFUSAL = "answers only the kiln workspace server"
REPLICA_REFUSAL = "answers only the workspace's gateway"


def _replica_processes(home: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if "kiln.serving.replica" in cmdline and str(home) in cmdline:
            found.append(process)
    return found


def _listening_ports(pid: int) -> set[int]:
    """What a process listens on, read from /proc as anyone on the machine may."""
    connections = psutil.Process(pid).net_connections("tcp")
    return {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}


@server_fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    home = tmp_path_factory.mktemp("kiln-internal-home")
    started = WorkspaceServer(home, server_env(home)).start()
    yield started
    started.stop()
    for process in _replica_processes(home):
        process.kill()
    cleanup_jobs(home)


@dataclass
class Tracked:
    """What the owner made through /mlflow, for an attacker to go after."""

    experiment_id: str
    run_id: str
    artifact_uri: str
    model: str


@dataclass
class Deployed:
    key: str
    scoring_uri: str
    replica_pid: int
    replica_port: int
    config_file: Path


@pytest.fixture(scope="module")
def owner_mlflow(server: WorkspaceServer) -> Iterator[MlflowClient]:
    """The real mlflow client through /mlflow with the workspace token."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in server.mlflow_env().items():
            patch.setenv(key, value)
        yield MlflowClient(tracking_uri=f"{server.url}/mlflow")


@pytest.fixture(scope="module")
def tracked(owner_mlflow: MlflowClient) -> Tracked:
    experiment_id = owner_mlflow.create_experiment(f"internal-{SUFFIX}")
    run = owner_mlflow.create_run(experiment_id)
    owner_mlflow.log_metric(run.info.run_id, "accuracy", 0.9)  # the round trip a job makes
    model = f"internal-{SUFFIX}"
    owner_mlflow.create_registered_model(model)
    forged = owner_mlflow.create_model_version(
        model, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags={"kiln.created_by": "somebody-else"}
    )
    assert forged.tags["kiln.created_by"] == "workspace"  # through /mlflow the creator is who asked
    return Tracked(experiment_id, run.info.run_id, run.info.artifact_uri, model)


@pytest.fixture(scope="module")
def deployed(server: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    folder = tmp_path_factory.mktemp("model") / "iris"
    model = LogisticRegression(max_iter=500).fit(IRIS.data, IRIS.target)
    mlflow.sklearn.save_model(model, str(folder), input_example=IRIS.data.iloc[:2])
    with server.client() as client:
        client.online_endpoints.create({"name": ENDPOINT})
        client.online_deployments.create(
            {"name": "blue", "endpoint_name": ENDPOINT, "model": {"path": str(folder)},
             "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60}},
            all_traffic=True,
        )  # fmt: skip
        key = client.online_endpoints.get_keys(ENDPOINT).primary_key
        scoring_uri = client.online_endpoints.get(ENDPOINT).scoring_uri
    (process,) = _replica_processes(server.home)
    (port,) = _listening_ports(process.pid)
    config_file = Path(next(arg for arg in process.cmdline() if arg.endswith(".json")))
    return Deployed(key, scoring_uri, process.pid, port, config_file)


@pytest.fixture(scope="module")
def tokens(server: WorkspaceServer) -> dict[Role, str]:
    found = {}
    with server.client() as owner:
        for role in (Role.READER, Role.CONTRIBUTOR):
            name = f"{role.value}-{SUFFIX}"
            owner.users.create(name, role)
            found[role] = owner.users.create_token(name, expires_in="1d").token
    return found


def _mlflow_port(server: WorkspaceServer) -> int:
    """Where MLflow's child listens, found as anyone on the machine finds it."""
    state = json.loads((server.home / "mlflow" / "process.json").read_text())
    assert state["port"] in _listening_ports(state["pid"])  # /proc says the same
    return int(state["port"])


def _mlflow_attacks(tracked: Tracked) -> list[tuple[str, str, Any]]:
    run, experiment, model = tracked.run_id, tracked.experiment_id, tracked.model
    forged_version = {
        "name": model, "source": f"{tracked.artifact_uri}/model", "run_id": run,
        "tags": [{"key": "kiln.created_by", "value": "forged"}],
    }  # fmt: skip
    artifact = f"api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/forged.txt"
    api = "/mlflow/api/2.0/mlflow"
    return [
        ("GET", "/mlflow/health", None),
        ("GET", "/mlflow/", None),
        ("GET", f"{api}/runs/get?run_id={run}", None),
        ("POST", f"{api}/runs/search", {"experiment_ids": [experiment]}),
        ("POST", "/mlflow/ajax-api/2.0/mlflow/experiments/search", {"max_results": 10}),
        ("GET", f"{api}/registered-models/get?name={model}", None),
        ("POST", f"{api}/runs/log-metric", {"run_id": run, "key": "forged", "value": 1.0, "timestamp": 0}),
        ("POST", f"{api}/runs/create", {"experiment_id": experiment}),
        ("POST", f"{api}/runs/delete", {"run_id": run}),
        ("POST", f"{api}/experiments/create", {"name": f"forged-{SUFFIX}"}),
        ("POST", f"{api}/experiments/delete", {"experiment_id": experiment}),
        ("POST", f"{api}/registered-models/create", {"name": f"forged-{SUFFIX}"}),
        ("DELETE", f"{api}/registered-models/delete", {"name": model}),
        ("POST", f"{api}/model-versions/create", forged_version),
        (
            "POST",
            f"{api}/model-versions/set-tag",
            {"name": model, "version": "1", "key": "kiln.created_by", "value": "x"},
        ),
        ("PUT", f"/mlflow/{artifact}", b"forged"),
        ("PUT", f"/{artifact}", b"forged"),  # MLflow's artifact router also answers without the prefix
    ]


def _send(base: str, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.request(method, base + path, content=body, headers=headers, timeout=30)
    return httpx.request(method, base + path, json=body, headers=headers, timeout=30)


def test_a_local_process_cannot_read_or_write_mlflows_child(
    server: WorkspaceServer, tracked: Tracked, owner_mlflow: MlflowClient, tokens: dict[Role, str]
) -> None:
    base = f"http://127.0.0.1:{_mlflow_port(server)}"
    credentials = [
        {},
        {"x-kiln-internal-secret": "guessed"},
        {"x-kiln-internal-secret": ""},
        {"Authorization": f"Bearer {server.token}"},  # not even the workspace token opens it: it is no secret of it
        {"Authorization": f"Bearer {tokens[Role.CONTRIBUTOR]}"},
    ]
    for headers in credentials:
        for method, path, body in _mlflow_attacks(tracked):
            answer = _send(base, method, path, body, headers)
            assert answer.status_code == 403, (method, path, headers, answer.status_code, answer.text[:300])
            assert MLFLOW_REFUSAL in answer.json()["error"]["message"]
            assert tracked.run_id not in answer.text and tracked.model not in answer.text

    # nothing was read, written or left behind: the owner, through /mlflow, finds everything as it was
    run = owner_mlflow.get_run(tracked.run_id)
    assert run.info.lifecycle_stage == "active" and run.data.metrics == {"accuracy": 0.9}
    assert [r.info.run_id for r in owner_mlflow.search_runs([tracked.experiment_id])] == [tracked.run_id]
    assert owner_mlflow.get_experiment(tracked.experiment_id).lifecycle_stage == "active"
    assert owner_mlflow.get_experiment_by_name(f"forged-{SUFFIX}") is None
    assert [m.name for m in owner_mlflow.search_registered_models(f"name = 'forged-{SUFFIX}'")] == []
    versions = owner_mlflow.search_model_versions(f"name = '{tracked.model}'")
    assert [(v.version, v.tags["kiln.created_by"]) for v in versions] == [("1", "workspace")]
    assert owner_mlflow.list_artifacts(tracked.run_id) == []
    assert list(server.home.rglob("forged.txt")) == []
    # a caller's own copy of the secret header does not ride through /mlflow: the proxy sends the server's only
    through_proxy = httpx.get(
        f"{server.url}/mlflow/api/2.0/mlflow/runs/get?run_id={tracked.run_id}",
        headers={"Authorization": f"Bearer {server.token}", "x-kiln-internal-secret": "guessed"},
    )
    assert through_proxy.status_code == 200 and through_proxy.json()["run"]["info"]["run_id"] == tracked.run_id


def test_a_replica_answers_nothing_without_the_gateways_secret(server: WorkspaceServer, deployed: Deployed) -> None:
    base = f"http://127.0.0.1:{deployed.replica_port}"
    attacks = [
        ("POST", "/score", SAMPLE),
        ("POST", "/invocations", {"inputs": SAMPLE["input_data"]["data"]}),
        ("GET", "/v2/health/ready", None),
        ("GET", "/v2/models/iris", None),
        ("GET", "/metrics", None),
    ]
    credentials = [
        {},
        {"x-kiln-internal-secret": "guessed"},
        {"Authorization": f"Bearer {deployed.key}"},  # the endpoint's key is for the gateway, not the replica
        {"Authorization": f"Bearer {server.token}"},
    ]
    for headers in credentials:
        for method, path, body in attacks:
            answer = _send(base, method, path, body, headers)
            assert answer.status_code == 403, (method, path, headers, answer.text[:300])
            assert REPLICA_REFUSAL in answer.json()["error"]["message"]
    # the secret is in a file only the server's OS user may read (jobs do not see KILN_HOME at all)
    assert stat.S_IMODE(deployed.config_file.stat().st_mode) == 0o600
    # through the gateway with the key, scoring works
    scored = httpx.post(deployed.scoring_uri, json=SAMPLE, headers={"Authorization": f"Bearer {deployed.key}"})
    assert scored.status_code == 200 and len(scored.json()) == 2


PROBE = """\
import json, sys, os, urllib.error, urllib.request

results = []
for port in sys.argv[1:]:
    for method, path in (("GET", "/mlflow/health"), ("POST", "/mlflow/api/2.0/mlflow/experiments/search"),
                         ("GET", "/v2/health/ready"), ("POST", "/score")):
        for token in (None, os.environ.get("MLFLOW_TRACKING_TOKEN")):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"{}" if method == "POST" else None,
                                             method=method, headers={"content-type": "application/json"})
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    results.append([port, path, answer.status, answer.read().decode()[:200]])
            except urllib.error.HTTPError as refused:
                results.append([port, path, refused.code, refused.read().decode()[:200]])
os.makedirs("outputs", exist_ok=True)
with open("outputs/probe.json", "w") as handle:
    json.dump(results, handle)
"""


def test_a_contributors_job_cannot_use_mlflows_or_a_replicas_port(
    server: WorkspaceServer, deployed: Deployed, tokens: dict[Role, str], tmp_path: Path
) -> None:
    ports = [_mlflow_port(server), deployed.replica_port]
    job_file = write_job(
        tmp_path, f"command: python probe.py {ports[0]} {ports[1]}\ncode: ./src\n", {"probe.py": PROBE}
    )
    with server.client(token=tokens[Role.CONTRIBUTOR]) as contributor:
        job = contributor.jobs.create(job_file).wait(timeout=180)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        contributor.jobs.download(job.name, tmp_path / "out", output_name="default")
    results = json.loads((tmp_path / "out" / "default" / "probe.json").read_text())
    assert len(results) == 16
    for port, path, status, body in results:
        assert status == 403, (port, path, status, body)
        assert "answers only" in body


def test_nobody_sees_replica_ports_or_pids(
    server: WorkspaceServer, deployed: Deployed, tokens: dict[Role, str]
) -> None:
    reader = {"Authorization": f"Bearer {tokens[Role.READER]}"}
    owner = {"Authorization": f"Bearer {server.token}"}
    for headers in (reader, owner):
        for path in (f"/api/v1/online-endpoints/{ENDPOINT}/deployments/blue", f"/api/v1/online-endpoints/{ENDPOINT}"):
            view = httpx.get(server.url + path, headers=headers).json()
            deployment = view if "replicas" in view else view["deployments"][0]
            (replica,) = deployment["replicas"]
            assert set(replica) == {"index", "generation", "state", "restarts", "started_at"}
            assert replica["state"] == "ready" and deployment["ready_replicas"] == 1
    env = {**server.env, "KILN_URL": server.url, "KILN_TOKEN": tokens[Role.READER]}
    shown = subprocess.run(
        [sys.executable, "-m", "kiln", "online-deployment", "show", "-n", "blue", "-e", ENDPOINT],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "replica 0  ready" in shown.stdout
    assert not re.search(r"\b(pid|port)\b", shown.stdout), shown.stdout


HEADERS = {  # Authorization header → does it carry the credential? (RFC 7235: the scheme's case does not matter)
    "Bearer {}": True,
    "bearer {}": True,
    "BEARER {}": True,
    "bEaReR {}": True,
    "Bearer  {}": True,
    "Basic {}": False,
    "Token {}": False,
    "{}": False,
    "Bearer": False,
    "Bearer {} {}": False,
}


def test_rest_mlflow_and_the_gateway_read_authorization_alike(
    server: WorkspaceServer, deployed: Deployed, tracked: Tracked
) -> None:
    for template, carries in HEADERS.items():
        rest = httpx.get(f"{server.url}/api/v1/jobs", headers={"Authorization": template.format(server.token, "x")})
        tracking = httpx.get(
            f"{server.url}/mlflow/api/2.0/mlflow/runs/get?run_id={tracked.run_id}",
            headers={"Authorization": template.format(server.token, "x")},
        )
        gateway = httpx.post(
            deployed.scoring_uri, json=SAMPLE, headers={"Authorization": template.format(deployed.key, "x")}
        )
        statuses = (rest.status_code, tracking.status_code, gateway.status_code)
        assert statuses == ((200, 200, 200) if carries else (401, 401, 401)), (template, statuses)


def test_without_its_key_an_unknown_endpoint_answers_as_a_known_one(
    server: WorkspaceServer, deployed: Deployed
) -> None:
    """Same status, headers and body (but for the name in the URL): nobody learns which names exist."""
    assert len(ENDPOINT) == len(UNKNOWN)
    no_key: dict[str, str] = {}
    wrong = {"Authorization": "Bearer wrong"}
    elsewhere = {"Authorization": f"Bearer {deployed.key}"}  # a key of another endpoint is no key of this one
    for known_headers, unknown_headers in ((no_key, no_key), (wrong, wrong), (wrong, elsewhere)):
        answers = []
        for name, headers in ((ENDPOINT, known_headers), (UNKNOWN, unknown_headers)):
            answer = httpx.post(f"{server.url}/endpoints/{name}/score", json=SAMPLE, headers=headers)
            kept = {k: v for k, v in answer.headers.items() if k not in ("date", "server")}
            answers.append((answer.status_code, kept, answer.text.replace(name, "NAME")))
        assert answers[0] == answers[1] and answers[0][0] == 401, answers
