"""Azure ML files brought to kiln unchanged: named computes (``compute: azureml:cpu-cluster``), inline
deployment models ``{name, version, path}``, ``auth_mode`` in any case (``aml_token``: workspace users'
tokens at the scoring URI), ``online-deployment update -f`` and Azure's model folder layout
(``AZUREML_MODEL_DIR`` holds the model under the name it was registered from), against real servers,
real jobs and real replicas. The files are written as Azure's documentation and samples write them."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kiln.specs.users import Role
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, stop_replicas
from tests.lanes import server_fixture

pytestmark = pytest.mark.slow

FAST_PROBES = "readiness_probe: {initial_delay: 0, period: 1, failure_threshold: 60}\n"


@server_fixture(scope="module")
def team_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """A server set as a team server is: an Azure compute name it does not know is refused."""
    home = tmp_path_factory.mktemp("kiln-azure-home")
    started = WorkspaceServer(home, server_env(home, unknown_azureml_compute="refuse")).start()
    yield started
    started.stop()
    stop_replicas(home)
    cleanup_jobs(home)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def job_yaml(name: str, compute: str, command: str, extra: str = "") -> str:
    return (
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
        f"name: {name}\ncommand: {command}\ncompute: {compute}\nexperiment_name: azure-files\n{extra}"
    )


def one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    """A refused command: exit code not 0, one line on stderr starting with 'error:', no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# Named computes -------------------------------------------------------------------------------------
def test_a_named_local_compute_runs_azure_jobs_within_its_own_job_limit(
    team_server: WorkspaceServer, tmp_path: Path
) -> None:
    created = team_server.cli(
        "compute", "create", "--name", "cpu-cluster", "--type", "local", "--max-concurrent-jobs", "1",
        "-o", "json", check=True,
    )  # fmt: skip
    view = json.loads(created.stdout)
    assert (view["name"], view["type"], view["max_concurrent_jobs"], view["address"]) == (
        "cpu-cluster",
        "local",
        1,
        None,
    )
    assert view["use"]["job_slots"] == 1
    # the server runs two local jobs at once (one per core, at least 2 here); this name runs one
    with team_server.client() as client:
        slow = client.jobs.create(write(tmp_path, "slow.yml", job_yaml("azure-slow", "azureml:cpu-cluster", "sleep 3")))
        quick = client.jobs.create(write(tmp_path, "quick.yml", job_yaml("azure-quick", "cpu-cluster", "echo ok")))
        slow_done, quick_done = slow.wait(timeout=120), quick.wait(timeout=120)
        assert (slow_done.status, quick_done.status) == ("completed", "completed")
        assert (slow_done.view.compute, quick_done.view.compute) == ("cpu-cluster", "cpu-cluster")
        assert quick_done.view.started_at is not None and slow_done.view.ended_at is not None
        assert quick_done.view.started_at >= slow_done.view.ended_at, "the second job started while the first ran"
        shown = client.computes.get("cpu-cluster")
        assert shown.use is not None and shown.use.jobs_running == 0 and shown.use.jobs_queued == 0
    listed = json.loads(team_server.cli("compute", "list", "-o", "json", check=True).stdout)
    assert {(view["name"], view["type"]) for view in listed} >= {("local", "local"), ("cpu-cluster", "local")}


def test_named_compute_mistakes_are_one_clear_line(team_server: WorkspaceServer) -> None:
    address = one_line_error(
        team_server.cli("compute", "create", "--name", "odd", "--type", "local", "--address", "http://h:8265")
    )
    assert "takes no address" in address
    gpus = one_line_error(team_server.cli("compute", "create", "--name", "odd", "--type", "local", "--gpus", "7"))
    assert "gpus: 7 is not a GPU of this machine" in gpus and "has no GPUs" in gpus
    limit = one_line_error(
        team_server.cli("compute", "create", "--name", "odd", "--type", "local", "--max-concurrent-jobs", "0")
    )
    assert "max_concurrent_jobs" in limit
    assert team_server.cli("compute", "show", "-n", "odd").returncode != 0  # nothing was recorded
    team_server.cli("compute", "create", "--name", "twice", "--type", "local", check=True)
    again = one_line_error(team_server.cli("compute", "create", "--name", "twice", "--type", "local"))
    assert "already exists" in again
    team_server.cli("compute", "delete", "-n", "twice", check=True)
    assert team_server.cli("compute", "show", "-n", "twice").returncode != 0


def test_a_team_server_refuses_an_unknown_azure_compute_with_the_line_that_makes_it_work(
    team_server: WorkspaceServer, tmp_path: Path
) -> None:
    job = write(tmp_path, "job.yml", job_yaml("azure-gpu", "azureml:gpu-cluster", "echo ok"))
    refused = one_line_error(team_server.cli("job", "create", "-f", str(job)))
    assert "'azureml:gpu-cluster' is not a compute target" in refused
    assert "kiln compute create --name gpu-cluster --type local" in refused
    team_server.cli("compute", "create", "--name", "gpu-cluster", "--type", "local", check=True)
    created = json.loads(team_server.cli("job", "create", "-f", str(job), "-o", "json", check=True).stdout)
    with team_server.client() as client:
        done = client.jobs.get(created["name"]).wait(timeout=120)
        assert (done.status, done.view.compute) == ("completed", "gpu-cluster")
        log = "".join(client.jobs.logs(done.name))
        assert "not a compute target" not in log  # it ran where it said


def test_a_named_local_compute_keeps_local_computes_refusals(team_server: WorkspaceServer, tmp_path: Path) -> None:
    team_server.cli("compute", "create", "--name", "cpu-refusals", "--type", "local", check=True)
    many = write(
        tmp_path,
        "many.yml",
        job_yaml("azure-many", "azureml:cpu-refusals", "echo ok", "resources:\n  instance_count: 2\n"),
    )
    assert "resources.instance_count: 2 machines asked for" in one_line_error(
        team_server.cli("job", "create", "-f", str(many))
    )
    mpi = write(
        tmp_path, "mpi.yml", job_yaml("azure-mpi", "azureml:cpu-refusals", "echo ok", "distribution:\n  type: mpi\n")
    )
    assert "distribution.type: 'mpi' is not supported on local compute" in one_line_error(
        team_server.cli("job", "create", "-f", str(mpi))
    )


def test_the_embedded_workspace_runs_an_unknown_azure_compute_locally_with_a_notice(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    job = write(tmp_path, "job.yml", job_yaml("azure-embedded-cpu", "azureml:cpu-cluster-embedded", "echo ran-here"))
    with workspace.client() as client:
        done = client.jobs.create(job).wait(timeout=120)
        assert (done.status, done.view.compute) == ("completed", "local")
        log = "".join(client.jobs.logs(done.name)).splitlines()
    notices = [line for line in log if "azureml:cpu-cluster-embedded" in line]
    assert len(notices) == 1 and "running on 'local'" in notices[0], log
    assert "kiln compute create --name cpu-cluster-embedded --type local" in notices[0]
    assert "ran-here" in log


# Deployments: Azure's sample files -----------------------------------------------------------------
AZURE_SCORE = """\
import json, os, pickle

def init():
    global model
    # Azure's online-endpoint sample, unchanged: the model folder 'model' sits in AZUREML_MODEL_DIR
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl")
    with open(model_path, "rb") as handle:
        model = pickle.load(handle)

def run(raw_data):
    data = json.loads(raw_data)["data"]
    return {"scaled": [model["factor"] * x for x in data], "kiln_dir": sorted(os.listdir(os.environ["KILN_MODEL_DIR"]))}
"""


def azure_sample(folder: Path, factor: int, version: int | None = 1) -> Path:
    """Azure's sample layout: model/ (a pickle), onlinescoring/score.py, endpoint.yml, blue.yml."""
    (folder / "model").mkdir(parents=True, exist_ok=True)
    (folder / "model" / "sklearn_regression_model.pkl").write_bytes(pickle.dumps({"factor": factor}))
    write(folder / "onlinescoring", "score.py", AZURE_SCORE)
    write(
        folder,
        "endpoint.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\nname: azure-sample\nauth_mode: Key\n",
    )
    version_line = f"  version: {version}\n" if version is not None else ""
    return write(
        folder, "blue.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        "name: blue\nendpoint_name: azure-sample\n"
        f"model:\n  name: azure-sample-model\n{version_line}  path: ./model/\n  type: custom_model\n"
        "code_configuration:\n  code: ./onlinescoring/\n  scoring_script: score.py\n"
        f"instance_type: Standard_DS3_v2\ninstance_count: 1\n{FAST_PROBES}",
    )  # fmt: skip


def score(client, endpoint: str, body: object, credential: str | None = None) -> httpx.Response:  # type: ignore[no-untyped-def]
    key = credential if credential is not None else client.online_endpoints.get_keys(endpoint).primary_key
    url = client.online_endpoints.get(endpoint).scoring_uri
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_azures_online_sample_runs_unchanged_and_updates_from_its_file(
    team_server: WorkspaceServer, tmp_path: Path
) -> None:
    blue = azure_sample(tmp_path, factor=2)
    team_server.cli("online-endpoint", "create", "-f", str(tmp_path / "endpoint.yml"), check=True)
    team_server.cli("online-deployment", "create", "-f", str(blue), "--all-traffic", check=True)
    with team_server.client() as client:
        answer = score(client, "azure-sample", {"data": [1, 2]})
        assert answer.status_code == 200, answer.text
        # KILN_MODEL_DIR keeps its meaning: the model's files themselves
        assert answer.json() == {"scaled": [2, 4], "kiln_dir": ["sklearn_regression_model.pkl"]}
        registered = client.models.get_version("azure-sample-model", "1")  # the inline model was registered
        assert registered.type == "custom_model"
        assert client.online_endpoints.get("azure-sample").auth_mode == "key"  # 'Key' in the file

    # update -f takes the names from the file; the same files resolve to the same version (none added)
    (tmp_path / "blue.yml").write_text(blue.read_text().replace("instance_count: 1", "instance_count: 2"))
    team_server.cli("online-deployment", "update", "-f", str(blue), check=True)
    with team_server.client() as client:
        view = client.online_deployments.get("blue", "azure-sample")
        assert (view.instance_count, view.model_name, view.model_version) == (2, "azure-sample-model", "1")
        assert [v.version for v in client.models.get("azure-sample-model").versions] == ["1"]

    # other files under the same version are refused (versions are immutable), nothing changes
    azure_sample(tmp_path, factor=3)
    conflict = one_line_error(team_server.cli("online-deployment", "update", "-f", str(blue)))
    assert "model.version: model 'azure-sample-model' version 1 exists with other files" in conflict
    # without a version they become version 2, and the deployment serves it
    unversioned = azure_sample(tmp_path, factor=3, version=None)
    team_server.cli("online-deployment", "update", "-f", str(unversioned), check=True)
    with team_server.client() as client:
        assert client.online_deployments.get("blue", "azure-sample").model_version == "2"
        assert score(client, "azure-sample", {"data": [1]}).json()["scaled"] == [3]
        client.online_endpoints.delete("azure-sample")


FILE_AND_MLFLOW_SCORE = """\
import json, os
import mlflow

def init():
    global file_factor, mlflow_model
    base = os.environ["AZUREML_MODEL_DIR"]
    with open(os.path.join(base, "sample_m1.json")) as handle:  # a model registered from a file
        file_factor = json.load(handle)["factor"]

def run(raw_data):
    return {"factor": file_factor, "listing": sorted(os.listdir(os.environ["AZUREML_MODEL_DIR"]))}
"""

MLFLOW_SCORE = """\
import json, os
import mlflow

def init():
    global model
    # Azure's MLflow custom scoring: the MLflow model's folder under its own name
    model = mlflow.sklearn.load_model(os.path.join(os.environ["AZUREML_MODEL_DIR"], "mlflow-model"))

def run(raw_data):
    return {"classes": model.predict(json.loads(raw_data)["data"]).tolist()}
"""


def test_azure_model_folder_layout_for_a_file_and_an_mlflow_model(team_server: WorkspaceServer, tmp_path: Path) -> None:
    write(tmp_path, "sample_m1.json", json.dumps({"factor": 5}))
    write(tmp_path / "file-code", "score.py", FILE_AND_MLFLOW_SCORE)
    write(tmp_path / "mlflow-code", "score.py", MLFLOW_SCORE)
    iris = load_iris()
    mlflow.sklearn.save_model(
        LogisticRegression(max_iter=300).fit(iris.data, iris.target), str(tmp_path / "mlflow-model")
    )
    write(tmp_path, "mlflow-model.yml", "name: azure-layout-mlflow\npath: ./mlflow-model\ntype: mlflow_model\n")
    team_server.cli("model", "create", "-f", str(tmp_path / "mlflow-model.yml"), check=True)
    team_server.cli(
        "online-endpoint", "create", "-f", str(write(tmp_path, "e.yml", "name: azure-layout\n")), check=True
    )
    code = "code_configuration: {code: ./%s, scoring_script: score.py}\n"
    file_deployment = write(
        tmp_path, "file.yml",
        "name: file\nendpoint_name: azure-layout\nmodel:\n  path: ./sample_m1.json\n  type: custom_model\n"
        + code % "file-code" + FAST_PROBES,
    )  # fmt: skip
    mlflow_deployment = write(
        tmp_path, "mlflow.yml",
        "name: mlflow\nendpoint_name: azure-layout\nmodel: azureml:azure-layout-mlflow:1\n" + code % "mlflow-code" + FAST_PROBES,
    )  # fmt: skip
    team_server.cli("online-deployment", "create", "-f", str(file_deployment), "--all-traffic", check=True)
    team_server.cli("online-deployment", "create", "-f", str(mlflow_deployment), check=True)
    with team_server.client() as client:
        url = client.online_endpoints.get("azure-layout").scoring_uri
        key = client.online_endpoints.get_keys("azure-layout").primary_key
        for deployment, expected in (
            ("file", {"factor": 5, "listing": ["sample_m1.json"]}),
            ("mlflow", {"classes": [0, 2]}),
        ):
            body = {"data": [iris.data[0].tolist(), iris.data[149].tolist()]}
            headers = {"Authorization": f"Bearer {key}", "azureml-model-deployment": deployment}
            answer = httpx.post(url, json=body, headers=headers, timeout=30)
            assert answer.status_code == 200, (deployment, answer.text)
            assert answer.json() == expected
        client.online_endpoints.delete("azure-layout")


# aml_token --------------------------------------------------------------------------------------------
ECHO_SCORE = """\
import json

def init():
    pass

def run(raw_data):
    return {"echo": json.loads(raw_data)}
"""


def test_aml_token_endpoints_take_contributors_tokens_not_keys_nor_readers(
    team_server: WorkspaceServer, tmp_path: Path
) -> None:
    write(tmp_path, "m.json", "{}")
    write(tmp_path / "code", "score.py", ECHO_SCORE)
    team_server.cli(
        "online-endpoint", "create", "-f", str(write(tmp_path, "e.yml", "name: azure-token\nauth_mode: AMLToken\n")),
        check=True,
    )  # fmt: skip
    deployment = write(
        tmp_path, "d.yml",
        "name: blue\nendpoint_name: azure-token\nmodel: {path: ./m.json, type: custom_model}\n"
        "code_configuration: {code: ./code, scoring_script: score.py}\n" + FAST_PROBES,
    )  # fmt: skip
    team_server.cli("online-deployment", "create", "-f", str(deployment), "--all-traffic", check=True)
    with team_server.client() as client:
        assert client.online_endpoints.get("azure-token").auth_mode == "aml_token"
        tokens = {}
        for role in (Role.READER, Role.CONTRIBUTOR):
            client.users.create(f"azure-{role.value}", role)
            tokens[role] = client.users.create_token(f"azure-{role.value}", expires_in="1d").token
        key = client.online_endpoints.get_keys("azure-token").primary_key
        allowed = score(client, "azure-token", {"x": 1}, tokens[Role.CONTRIBUTOR])
        assert allowed.status_code == 200 and allowed.json() == {"echo": {"x": 1}}, allowed.text
        reader = score(client, "azure-token", {"x": 1}, tokens[Role.READER])
        assert reader.status_code == 403, reader.text
        assert "aml_token needs contributor" in reader.json()["error"]["message"]
        by_key = score(client, "azure-token", {"x": 1}, key)  # keys do not score an aml_token endpoint
        wrong = score(client, "azure-token", {"x": 1}, "kiln_not-a-token")
        unknown = httpx.post(
            client.online_endpoints.get("azure-token").scoring_uri.replace("azure-token", "azure-nothing"),
            json={}, headers={"Authorization": "Bearer kiln_not-a-token"}, timeout=30,
        )  # fmt: skip
        assert by_key.status_code == wrong.status_code == unknown.status_code == 401
        # a wrong token tells nothing an unknown endpoint would not
        assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"].replace(
            "azure-nothing", "azure-token"
        )
    # the CLI scores with the caller's own token
    invoked = team_server.cli(
        "online-endpoint", "invoke", "-n", "azure-token", "-r", str(write(tmp_path, "r.json", '{"y": 2}')), check=True
    )
    assert json.loads(invoked.stdout) == {"echo": {"y": 2}}
    with team_server.client() as client:
        client.online_endpoints.delete("azure-token")
