"""Moving a workspace: ``kiln workspace export`` from one real server, ``kiln workspace import``
into another over HTTP, compared through the CLI, the SDK and the real mlflow client.

Both servers build environments offline (a find-links folder of test wheels, as in
test_environments), so that the environment registered in the source is built on the target too.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_digits, load_iris

from kiln.errors import KilnError
from kiln.specs.views import JobStatus
from kiln.transfer.report import ProgressEvent
from tests import postgres_server as postgres_fixtures
from tests import s3_server as s3_fixtures
from tests.conftest import REPO, WorkspaceServer, cleanup_jobs, server_env, stop_replicas, wait_for, write_job
from tests.integration.services.test_environments import env_file
from tests.lanes import server_fixture
from tests.postgres_server import PostgresServer
from tests.s3_server import S3Server
from tests.unit.environments.test_builder import make_wheel

TRANSFER_LEARNING = REPO / "examples" / "transfer-learning"
TRACKED_JOB = "transfer-tracked"
postgres_server = postgres_fixtures.postgres_server  # the session's PostgreSQL (a fixture)
s3_server = s3_fixtures.s3_server  # moto's standalone S3 server (a fixture)
# what differs between two workspaces by nature: their URLs, MLflow's experiment numbering, the server
PLACE_FIELDS = {"mlflow_run_url", "experiment_id", "server_id"}
FAST_PROBE = {"initial_delay": 0, "period": 1, "failure_threshold": 60}
IRIS_ROWS = {"input_data": load_iris().data[:4].tolist()}

TRAIN = """\
import argparse, json, pathlib
import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

parser = argparse.ArgumentParser()
parser.add_argument("--data")
parser.add_argument("--C", type=float)
parser.add_argument("--report")
args = parser.parse_args()
rows = (pathlib.Path(args.data) / "rows.csv").read_text().splitlines()
mlflow.log_params({"C": args.C, "rows": len(rows)})
for step in range(6):
    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
mlflow.set_tag("stage", "transfer-test")
mlflow.log_text("notes for the transfer", "notes/hello.txt")
X, y = load_iris(return_X_y=True)
mlflow.sklearn.log_model(LogisticRegression(max_iter=300, C=args.C).fit(X, y), name="model")
pathlib.Path(args.report).mkdir(parents=True, exist_ok=True)
(pathlib.Path(args.report) / "report.json").write_text(json.dumps({"rows": len(rows)}))
pathlib.Path("outputs").mkdir(exist_ok=True)
pathlib.Path("outputs/classes.txt").write_text("setosa versicolor virginica")
"""


class Servers:
    """Offline servers started by this module, stopped at its end."""

    def __init__(self, wheels: Path, homes: pytest.TempPathFactory) -> None:
        self._wheels = wheels
        self._homes = homes
        self.started: list[WorkspaceServer] = []

    def start(self, extra_env: dict[str, str] | None = None, **settings: str) -> WorkspaceServer:
        home = self._homes.mktemp("kiln-transfer-home")
        env = {k: v for k, v in server_env(home, local_concurrency="2", **settings).items() if not k.startswith("PIP_")}
        env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(self._wheels)})
        env.update(extra_env or {})
        server = WorkspaceServer(home, env).start()
        self.started.append(server)
        return server


@pytest.fixture(scope="module", autouse=True)
def _mlflow_settings_restored() -> Iterator[None]:
    """These tests point the mlflow client at one server, then the other; later modules get theirs back."""
    with pytest.MonkeyPatch.context() as patch:
        for key in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN"):
            patch.delenv(key, raising=False)
        yield
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    wheels = tmp_path_factory.mktemp("wheels")
    make_wheel(wheels, "kiln-probe", "1.0")
    make_wheel(wheels, "mlflow-skinny", metadata.version("mlflow"))  # stand-in: no registry offline
    started = Servers(wheels, tmp_path_factory)
    yield started
    for server in started.started:
        server.stop()
        stop_replicas(server.home)
        cleanup_jobs(server.home)


@server_fixture(scope="module")
def source(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> WorkspaceServer:
    """A workspace with a data asset, an environment, a tracked job that read the data and logged
    a model (registered), the transfer-learning base and fine-tune jobs (registered, with lineage)
    and an endpoint."""
    server = servers.start()
    folder = tmp_path_factory.mktemp("source-files")
    data = folder / "rows"
    data.mkdir()
    (data / "rows.csv").write_text("a,b\n1,2\n3,4\n")
    (data / "README.txt").write_text("two rows\n")
    with server.client() as client:
        client.data.create(name="transfer-data", version="1", path=str(data), description="rows", tags={"k": "v"})
        client.environments.create(env_file(folder / "env", "transfer-env", "kiln-probe==1.0"))
        job_file = write_job(
            folder / "job",
            textwrap.dedent(f"""\
                name: {TRACKED_JOB}
                display_name: tracked for the transfer
                experiment_name: transfer
                code: ./src
                command: python train.py --data ${{{{inputs.data}}}} --C ${{{{inputs.C}}}} --report ${{{{outputs.report}}}}
                inputs:
                  data: {{type: uri_folder, path: kiln:transfer-data:1}}
                  C: 0.5
                outputs:
                  report: {{type: uri_folder}}
                tags: {{team: ml}}
            """),
            {"train.py": TRAIN},
        )
        tracked = client.jobs.create(job_file).wait(300)
        assert tracked.status == JobStatus.COMPLETED, "".join(client.jobs.logs(TRACKED_JOB))
        client.models.create(name="transfer-logged", path=f"runs:/{TRACKED_JOB}/model", description="from a run")
        for spec in ("base.yml", "fine-tune.yml"):
            job = client.jobs.create(TRANSFER_LEARNING / spec).wait(300)
            assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        client.models.set_alias("digits-finetuned", "champion", "1")
        client.online_endpoints.create({"name": "transfer-ep", "description": "moved along", "tags": {"team": "ml"}})
        client.models.set_alias("transfer-logged", "prod", "1")
        deployment = {"name": "blue", "endpoint_name": "transfer-ep", "model": "kiln:transfer-logged@prod"}
        client.online_deployments.create({**deployment, "readiness_probe": FAST_PROBE}, all_traffic=True)
    return server


@pytest.fixture(scope="module")
def archive(source: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export, taken while a job is running on the source (which is left out, and said so)."""
    target = tmp_path_factory.mktemp("export") / "workspace.tar.gz"
    sleeper = write_job(
        tmp_path_factory.mktemp("sleeper"), "command: python -c 'import time; time.sleep(300)'\nname: still-running\n"
    )
    with source.client() as client:
        running = client.jobs.create(sleeper)
        wait_for(lambda: running.refresh().status == JobStatus.RUNNING, 120, what="the sleeper to run")
        result = source.cli("workspace", "export", "--to", str(target), "--include-endpoints", check=True)
        client.jobs.cancel("still-running")
    assert f"exported to {target}" in result.stdout and "3 jobs" in result.stdout
    assert "left out: job still-running (running): it has not ended" in result.stderr
    assert not list(target.parent.glob(".*partial"))  # no half file left beside it
    content = gzip.decompress(target.read_bytes())
    for secret in (source.token, (source.home / "endpoint-keys.secret").read_text().strip()):
        assert secret.encode() not in content  # neither the workspace token nor the endpoint key secret
    return target


def _jobs(server: WorkspaceServer) -> dict[str, dict[str, Any]]:
    listed = json.loads(server.cli("job", "list", "-o", "json", check=True).stdout)
    return {job["name"]: job for job in listed if job["name"] != "still-running"}


def _comparable(view: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in view.items() if key not in PLACE_FIELDS}


def _mlflow(server: WorkspaceServer) -> MlflowClient:
    os.environ.update(server.mlflow_env())  # the real client reads the token from the environment
    return MlflowClient(tracking_uri=f"{server.url}/mlflow", registry_uri=f"{server.url}/mlflow")


def _run_record(server: WorkspaceServer, run_id: str) -> dict[str, Any]:
    client = _mlflow(server)
    run = client.get_run(run_id)
    histories = {
        key: [(m.step, m.value, m.timestamp) for m in client.get_metric_history(run_id, key)]
        for key in run.data.metrics
    }
    artifacts = sorted(info.path for info in client.list_artifacts(run_id, "notes"))
    info = run.info
    return {
        "name": info.run_name, "status": info.status, "start": info.start_time, "end": info.end_time,
        "user": info.user_id, "params": run.data.params, "tags": run.data.tags, "histories": histories,
        "artifacts": artifacts, "datasets": [d.dataset.digest for d in run.inputs.dataset_inputs],
        "model outputs": [o.model_id for o in (run.outputs.model_outputs if run.outputs else [])],
    }  # fmt: skip


def _predict(server: WorkspaceServer, uri: str, rows: np.ndarray) -> list[Any]:
    _mlflow(server)
    mlflow.set_tracking_uri(f"{server.url}/mlflow")
    return list(mlflow.pyfunc.load_model(uri).predict(rows))


def _model_versions(server: WorkspaceServer) -> dict[str, list[tuple[Any, ...]]]:
    with server.client() as client:
        return {
            model.name: [(v.version, v.job, v.type, v.description, v.tags, v.aliases) for v in model.versions]
            for model in client.models.list(include_archived=True)
        }


def _downloaded_from_both(
    source: WorkspaceServer, target: WorkspaceServer, command: list[str], folder: Path
) -> list[dict[str, bytes]]:
    """``kiln … --download-path FOLDER`` against each server; the files each wrote, by relative path."""
    found = []
    for server, place in ((source, folder / "source"), (target, folder / "target")):
        server.cli(*command, str(place), check=True)
        found.append({p.relative_to(place).as_posix(): p.read_bytes() for p in sorted(place.rglob("*")) if p.is_file()})
    return found


def test_import_keeps_jobs_runs_models_lineage_data_and_files(
    servers: Servers, source: WorkspaceServer, archive: Path, tmp_path: Path
) -> None:
    target = servers.start()
    result = target.cli("workspace", "import", str(archive), check=True, timeout=900)
    assert "jobs: 3 imported" in result.stdout and "runs: " in result.stdout, result.stdout
    assert "endpoint keys are new on this server" in result.stderr
    assert "left out of the export: job still-running" in result.stderr

    # kiln job list / show: the same jobs, with the same names, ids, status, times, pins, outputs
    source_jobs, target_jobs = _jobs(source), _jobs(target)
    assert set(target_jobs) == set(source_jobs) and TRACKED_JOB in target_jobs
    for name, view in source_jobs.items():
        assert _comparable(target_jobs[name]) == _comparable(view), name
        shown = [
            json.loads(s.cli("job", "show", "-n", name, "-o", "json", check=True).stdout) for s in (source, target)
        ]
        assert _comparable(shown[1]) == _comparable(shown[0]), name

    # MLflow: the job's run under the same id, with params, every metric value, tags, inputs, artifacts
    run_id = source_jobs[TRACKED_JOB]["id"]
    before, after = _run_record(source, run_id), _run_record(target, run_id)
    assert after == before
    assert [value for _, value, _ in after["histories"]["loss"]] == [1.0 / (step + 1) for step in range(6)]
    assert after["params"]["C"] == "0.5" and after["tags"]["team"] == "ml" and after["artifacts"] == ["notes/hello.txt"]
    assert "kiln.import.incomplete" not in after["tags"]
    text = _mlflow(target).download_artifacts(run_id, "notes/hello.txt", str(tmp_path))
    assert Path(text).read_text() == "notes for the transfer"

    # registered models keep their names, versions, jobs, aliases; they load and predict the same
    assert _model_versions(target) == _model_versions(source)
    digits, iris = load_digits().data[:5], load_iris().data[:5]
    for uri, rows in (("models:/digits-finetuned/1", digits), ("models:/transfer-logged/1", iris)):
        assert _predict(target, uri, rows) == _predict(source, uri, rows), uri
    champion = "models:/digits-finetuned@champion"
    assert _predict(target, champion, digits) == _predict(source, champion, digits)

    # lineage: the fine-tuned model still shows its job, the base model and the base's job
    with source.client() as client:
        source_lineage = client.models.lineage("digits-finetuned", "1").model_dump()
    with target.client() as client:
        lineage = client.models.lineage("digits-finetuned", "1")
        assert lineage.model_dump() == source_lineage
        (producer,) = lineage.upstream
        assert [node.id for node in producer.upstream if node.kind == "model"] == ["digits-base:1"]
        assert client.data.get("transfer-data", "1") == _data_view(source)
        environment = wait_for(lambda: _ready(client.environments.get("transfer-env", "1")), 180, what="the env build")
        assert "kiln-probe==1.0" in environment.packages
        # the endpoint and its deployment, serving the exact version it served (the alias was pinned)
        endpoint = client.online_endpoints.get("transfer-ep")
        assert (endpoint.description, endpoint.traffic) == ("moved along", {"blue": 100})
        deployment = client.online_deployments.wait("transfer-ep", "blue", timeout=300)
        assert (deployment.model, deployment.model_version) == ("kiln:transfer-logged:1", "1")
        assert client.online_endpoints.invoke("transfer-ep", body=IRIS_ROWS) == _invoke(source, IRIS_ROWS)
        assert client.online_endpoints.get_keys("transfer-ep") != _keys(source)  # keys are new on the target

    # the data asset's files and a job's output download byte for byte the same
    data_download = ["data", "download", "-n", "transfer-data", "-v", "1", "--download-path"]
    data = _downloaded_from_both(source, target, data_download, tmp_path / "data")
    assert data[0] == data[1] and data[0]["transfer-data/rows.csv"] == b"a,b\n1,2\n3,4\n"
    output_download = ["job", "download", "-n", TRACKED_JOB, "--output-name", "report", "--download-path"]
    outputs = _downloaded_from_both(source, target, output_download, tmp_path / "outputs")
    assert outputs[0] == outputs[1] and json.loads(outputs[0]["report/report.json"]) == {"rows": 3}

    # importing the same archive again changes nothing
    runs_before = _all_runs(target)
    again = target.cli("workspace", "import", str(archive), check=True, timeout=900)
    assert "jobs: 0 imported, 3 already there" in again.stdout, again.stdout
    assert _all_runs(target) == runs_before and _model_versions(target) == _model_versions(source)
    assert _jobs(target) == target_jobs


def _data_view(server: WorkspaceServer) -> Any:
    with server.client() as client:
        return client.data.get("transfer-data", "1")


def _invoke(server: WorkspaceServer, body: Any) -> Any:
    with server.client() as client:
        return client.online_endpoints.invoke("transfer-ep", body=body)


def _keys(server: WorkspaceServer) -> Any:
    with server.client() as client:
        return client.online_endpoints.get_keys("transfer-ep")


def _ready(view: Any) -> Any:
    return view if view.status == "ready" else None


def _all_runs(server: WorkspaceServer) -> list[tuple[str, str, int | None]]:
    client = _mlflow(server)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, max_results=1000)
    return sorted((run.info.run_id, run.info.status, run.info.end_time) for run in runs)


def test_a_target_with_different_objects_refuses_and_stays_unchanged(
    servers: Servers, archive: Path, tmp_path: Path
) -> None:
    target = servers.start()
    own = write_job(tmp_path / "own", f"name: {TRACKED_JOB}\ncommand: echo mine\n")
    with target.client() as client:
        assert client.jobs.create(own).wait(120).status == JobStatus.COMPLETED
    jobs, runs, models = _jobs(target), _all_runs(target), _model_versions(target)

    refused = target.cli("workspace", "import", str(archive), timeout=900)
    assert refused.returncode == 4, refused.stderr
    assert "already holds 4 object(s) that differ" in refused.stderr and "nothing was imported" in refused.stderr
    assert f"job {TRACKED_JOB}: the target has a different job named '{TRACKED_JOB}'" in refused.stderr
    # its run, the model version it logged and the endpoint serving that model stay out too
    assert "it is the run of job 'transfer-tracked'" in refused.stderr
    assert "registered model transfer-logged: its version 1 comes from run" in refused.stderr
    assert "endpoint transfer-ep: its deployment blue serves model transfer-logged" in refused.stderr
    assert "--on-conflict skip" in refused.stderr
    assert (_jobs(target), _all_runs(target), _model_versions(target)) == (jobs, runs, models)
    with target.client() as client:
        assert client.data.list() == [] and client.environments.list() == []

    # with --on-conflict skip: everything else, and the target's own job is kept
    skipped = target.cli("workspace", "import", str(archive), "--on-conflict", "skip", check=True, timeout=900)
    assert "jobs: 2 imported" in skipped.stdout and "1 skipped (different on the target)" in skipped.stdout
    assert f"skipped job {TRACKED_JOB}" in skipped.stderr
    after = _jobs(target)
    assert after[TRACKED_JOB] == jobs[TRACKED_JOB] and len(after) == 3
    models = _model_versions(target)
    assert "digits-finetuned" in models and "transfer-logged" not in models  # it would name the wrong job
    with target.client() as client:
        (producer,) = client.models.lineage("digits-finetuned", "1").upstream
        assert [node.id for node in producer.upstream if node.kind == "model"] == ["digits-base:1"]


def test_corrupt_and_truncated_archives_are_refused_clearly(servers: Servers, archive: Path, tmp_path: Path) -> None:
    target = servers.start()
    data = archive.read_bytes()
    middle = len(data) // 2
    cases = {
        "truncated.tar.gz": data[:middle],
        "flipped-early.tar.gz": data[:200] + bytes([data[200] ^ 0xFF]) + data[201:],
        "flipped-middle.tar.gz": data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :],
        "notes.txt": b"just some text\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        result = target.cli("workspace", "import", str(path))
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"error: {name} ") and "corrupt" in result.stderr, result.stderr
        assert "nothing was imported" in result.stderr
    missing = target.cli("workspace", "import", str(tmp_path / "nowhere.tar.gz"))
    assert missing.returncode == 2 and "nowhere.tar.gz: no such file" in missing.stderr
    assert _jobs(target) == {} and _model_versions(target) == {}
    assert not list((target.home / "tmp" / "imports").glob("*"))  # no scratch left behind


def test_an_import_cut_short_by_a_crash_finishes_when_run_again(
    servers: Servers, source: WorkspaceServer, archive: Path
) -> None:
    target = servers.start()

    def crash_after_the_first_run(event: ProgressEvent) -> None:
        if event.item.startswith("run ") and target.process and target.process.poll() is None:
            target.kill()  # SIGKILL mid-import, as a crash would: the next item is being written

    with target.client() as client, pytest.raises(KilnError):
        client.workspace.import_(archive, progress=crash_after_the_first_run)
    target.start()
    half = _all_runs(target)
    assert half, "the crash came before anything was imported"

    result = target.cli("workspace", "import", str(archive), check=True, timeout=900)
    assert "already there" in result.stdout and re.search(r"[1-9]\d* imported", result.stdout), result.stdout
    assert {name: _comparable(view) for name, view in _jobs(target).items()} == {
        name: _comparable(view) for name, view in _jobs(source).items()
    }
    run_id = _jobs(source)[TRACKED_JOB]["id"]
    assert _run_record(target, run_id) == _run_record(source, run_id)
    tracking = _mlflow(target)
    runs = tracking.search_runs([e.experiment_id for e in tracking.search_experiments()], max_results=1000)
    assert not [run.info.run_id for run in runs if "kiln.import.incomplete" in run.data.tags]
    assert _model_versions(target) == _model_versions(source)
    digits = load_digits().data[:5]
    assert _predict(target, "models:/digits-finetuned/1", digits) == _predict(
        source, "models:/digits-finetuned/1", digits
    )
    assert not list((target.home / "tmp" / "imports").glob("*"))  # the killed import's scratch is gone too


def test_an_embedded_workspace_moves_to_a_team_server_on_postgres_and_s3(
    servers: Servers, source: WorkspaceServer, archive: Path, postgres_server: PostgresServer, s3_server: S3Server
) -> None:
    """The issue's own case: the embedded (SQLite, local files) workspace imported into a team server
    whose kiln and MLflow stores are on PostgreSQL and whose artifacts are on S3 (moto's server)."""
    database = postgres_server.create_migrated_database("transfer_team")  # copied from the migrated template
    bucket = s3_server.create_bucket("transfer-team")
    target = servers.start(extra_env=s3_server.env, database_url=database, artifact_root=f"s3://{bucket}/kiln")
    result = target.cli("workspace", "import", str(archive), check=True, timeout=900)
    assert "jobs: 3 imported" in result.stdout, result.stdout

    source_jobs, target_jobs = _jobs(source), _jobs(target)
    assert {name: (v["id"], v["status"]) for name, v in target_jobs.items()} == {
        name: (v["id"], v["status"]) for name, v in source_jobs.items()
    }
    run_id = source_jobs[TRACKED_JOB]["id"]
    assert _run_record(target, run_id) == _run_record(source, run_id)
    assert _model_versions(target) == _model_versions(source)
    digits = load_digits().data[:5]
    assert _predict(target, "models:/digits-finetuned/1", digits) == _predict(
        source, "models:/digits-finetuned/1", digits
    )
    with source.client() as client:
        source_lineage = client.models.lineage("digits-finetuned", "1").model_dump()
    with target.client() as client:
        assert client.models.lineage("digits-finetuned", "1").model_dump() == source_lineage
    # the runs and models really are on PostgreSQL, their files in the bucket
    mlflow_database = f"{database.rsplit('/', 1)[1]}_mlflow"
    assert postgres_server.query(f"SELECT count(*) FROM runs WHERE run_uuid = '{run_id}'", mlflow_database) == [(1,)]
    assert any("/mlflow/" in key for key in s3_server.keys(bucket))
