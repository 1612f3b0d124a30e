"""MLflow logging through the workspace's ``/mlflow`` with the real ``mlflow`` client: what kiln writes
in-process (log-metric, log-batch, log-parameter, set-tag) reads back the same through MLflow's REST
API and client, also with 20 loggers at once; bad requests get MLflow's errors; jobs log
asynchronously and lose nothing when they end, or are killed after their last flush."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, job_processes, wait_for, write_job

LOGGERS = 20
STEPS = 15


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, int, float]]:
    return sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))


def rest_history(workspace: WorkspaceServer, run_id: str, key: str) -> list[tuple[int, int, float]]:
    answer = httpx.get(
        f"{workspace.url}/mlflow/api/2.0/mlflow/metrics/get-history",
        params={"run_id": run_id, "metric_key": key, "max_results": 25000},
        headers={"Authorization": f"Bearer {workspace.token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return sorted((m["step"], int(m["timestamp"]), m["value"]) for m in answer.json().get("metrics", []))


def test_twenty_loggers_at_once_read_back_the_same_everywhere(
    workspace: WorkspaceServer, mlflow_client: MlflowClient
) -> None:
    run_id = mlflow_client.create_run(mlflow_client.create_experiment(f"fast-{time.time_ns()}")).info.run_id
    base = int(time.time() * 1000)
    expected: dict[str, list[tuple[int, int, float]]] = {}
    for worker in range(LOGGERS):
        mine = [(step, base + worker * 100 + step, worker + step / 100) for step in range(STEPS)]
        expected[f"worker{worker}"] = mine
        expected.setdefault("shared", []).extend((worker * STEPS + s, t, v) for s, t, v in mine)
    failures: list[BaseException] = []

    def logger(worker: int) -> None:
        client = MlflowClient(tracking_uri=mlflow_client.tracking_uri)  # its own HTTP session, as a process has
        try:
            for step, timestamp, value in expected[f"worker{worker}"]:
                client.log_metric(run_id, f"worker{worker}", value, timestamp=timestamp, step=step)
            client.log_batch(
                run_id,
                metrics=[Metric("shared", v, t, worker * STEPS + s) for s, t, v in expected[f"worker{worker}"]],
                params=[Param(f"p{worker}", str(worker))],
                tags=[RunTag(f"t{worker}", "x")],
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=logger, args=(worker,)) for worker in range(LOGGERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures

    run = mlflow_client.get_run(run_id)
    assert run.data.params == {f"p{w}": str(w) for w in range(LOGGERS)}
    assert {k: v for k, v in run.data.tags.items() if k.startswith("t")} == {f"t{w}": "x" for w in range(LOGGERS)}
    for key, values in expected.items():
        assert history(mlflow_client, run_id, key) == sorted(values), key
        latest = max(values)  # the greatest step (then timestamp, then value)
        assert run.data.metrics[key] == latest[2], key
    assert rest_history(workspace, run_id, "shared") == sorted(expected["shared"])
    found = mlflow_client.search_runs(
        [run.info.experiment_id], filter_string=f"metrics.worker3 = {max(expected['worker3'])[2]}"
    )
    assert [r.info.run_id for r in found] == [run_id]


def test_bad_writes_get_mlflows_errors_and_readers_cannot_write(
    workspace: WorkspaceServer, mlflow_client: MlflowClient
) -> None:
    run_id = mlflow_client.create_run(mlflow_client.create_experiment(f"bad-{time.time_ns()}")).info.run_id
    owner = {"Authorization": f"Bearer {workspace.token}"}
    for prefix in ("api", "ajax-api"):
        url = f"{workspace.url}/mlflow/{prefix}/2.0/mlflow/runs/log-metric"
        missing = httpx.post(url, json={"run_id": run_id, "key": "k", "timestamp": 1}, headers=owner)
        assert missing.status_code == 400
        assert missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "Missing value for required parameter 'value'" in missing.json()["message"]
        unknown = httpx.post(url, json={"run_id": "0" * 32, "key": "k", "value": 1, "timestamp": 1}, headers=owner)
        assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        nobody = httpx.post(url, json={"run_id": run_id, "key": "k", "value": 1, "timestamp": 1})
        assert nobody.status_code == 401 and nobody.json()["error_code"] == "UNAUTHENTICATED"
    with pytest.raises(Exception, match="Changing param values is not allowed"):
        mlflow_client.log_param(run_id, "p", "1")
        mlflow_client.log_param(run_id, "p", "2")
    mlflow_client.set_terminated(run_id)
    mlflow_client.delete_run(run_id)
    with pytest.raises(Exception, match="must be in the 'active' state"):
        mlflow_client.log_metric(run_id, "k", 1.0)


ASYNC_LOGGER = """
import mlflow, sys
from mlflow.environment_variables import MLFLOW_ENABLE_ASYNC_LOGGING
print("async logging:", MLFLOW_ENABLE_ASYNC_LOGGING.get(), flush=True)
for step in range(300):
    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
if sys.argv[1:] == ["then-wait"]:
    mlflow.flush_async_logging()
    print("flushed", flush=True)
    import time
    time.sleep(300)
"""


def _logger_job(tmp_path: Path, arguments: str = "") -> Path:
    return write_job(tmp_path, f"command: python logger.py {arguments}\ncode: ./src\n", {"logger.py": ASYNC_LOGGER})


def test_a_job_logs_asynchronously_and_loses_nothing_when_it_ends(
    workspace: WorkspaceServer, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    with workspace.client() as client:
        job = client.jobs.create(_logger_job(tmp_path)).wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "async logging: True" in "".join(client.jobs.logs(job.name))
    assert [step for step, _, _ in history(mlflow_client, job.id, "loss")] == list(range(300))


def test_a_job_killed_after_its_last_flush_loses_nothing(
    workspace: WorkspaceServer, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    with workspace.client() as client:
        job = client.jobs.create(_logger_job(tmp_path, "then-wait"))
        seen = ""
        for text in client.jobs.logs(job.name, follow=True):
            seen += text
            if "flushed" in seen:
                break
        logger = wait_for(
            lambda: next((p for p in job_processes(workspace.home, job.id) if "logger.py" in p.cmdline()), None),
            what="the job's process",
        )
        os.kill(logger.pid, signal.SIGKILL)
        job.wait(timeout=60)
    assert job.status == JobStatus.FAILED
    assert [step for step, _, _ in history(mlflow_client, job.id, "loss")] == list(range(300))


MODEL_WITHOUT_RUN = """
import mlflow
from sklearn.linear_model import LogisticRegression
mlflow.sklearn.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), name="model")
"""


def test_a_model_logged_with_no_active_run_is_the_jobs_and_registers(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    job_file = write_job(tmp_path, "command: python log_model.py\ncode: ./src\n", {"log_model.py": MODEL_WITHOUT_RUN})
    with workspace.client() as client:
        job = client.jobs.create(job_file).wait(timeout=180)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        version = client.models.create({"name": f"unattached-{time.time_ns()}", "path": f"runs:/{job.name}/model"})
    assert str(version.version) == "1"


def test_large_artifacts_stream_through_the_relay_both_ways(mlflow_client: MlflowClient, tmp_path: Path) -> None:
    """An upload over the relay's whole-body size is streamed to MLflow, and the download streamed back."""
    run_id = mlflow_client.create_run(mlflow_client.create_experiment(f"artifacts-{time.time_ns()}")).info.run_id
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    small = tmp_path / "small.txt"
    small.write_text("small")
    mlflow_client.log_artifact(run_id, str(big), "files")
    mlflow_client.log_artifact(run_id, str(small), "files")
    back = Path(mlflow_client.download_artifacts(run_id, "files", str(tmp_path / "back")))
    assert (back / "big.bin").read_bytes() == big.read_bytes()
    assert (back / "small.txt").read_text() == "small"
    assert sorted(a.path for a in mlflow_client.list_artifacts(run_id, "files")) == ["files/big.bin", "files/small.txt"]


def test_a_job_s_run_written_in_process_is_the_run_mlflow_s_client_makes(
    workspace: WorkspaceServer, mlflow_client: MlflowClient
) -> None:
    """A job's run is created, scheduled and started through MLflow's store in the server (kiln.tracking.run_store),
    not through MLflow's client: the run reads back as one made by the client's calls (create_run, update_run)."""
    with workspace.client() as client:
        unnamed = client.jobs.create({"command": "echo unnamed", "experiment_name": "in-process-runs"}).wait(120)
        named = client.jobs.create({"command": "echo named", "name": f"named-{time.time_ns()}"}).wait(120)
    assert unnamed.status == named.status == JobStatus.COMPLETED
    tags = {"mlflow.user": unnamed.view.created_by or "", "kiln.compute": "local"}
    made = mlflow_client.create_run(unnamed.view.experiment_id, tags=tags)
    mlflow_client.update_run(made.info.run_id, status="SCHEDULED", name=made.info.run_id)
    reference = mlflow_client.get_run(made.info.run_id)
    for job in (unnamed, named):
        run = mlflow_client.get_run(job.id)
        assert (run.info.run_name, run.data.tags["mlflow.runName"]) == (job.name, job.name)
        assert (run.info.status, run.info.lifecycle_stage) == ("FINISHED", "active")
        assert run.info.user_id == run.data.tags["mlflow.user"] == job.view.created_by
        assert run.info.start_time <= run.info.end_time
        assert {"mlflow.source.name", "mlflow.source.type", "kiln.compute"} <= run.data.tags.keys()
    assert reference.info.run_name == reference.data.tags["mlflow.runName"] == made.info.run_id
    assert reference.info.status == "SCHEDULED" and reference.info.user_id == tags["mlflow.user"]
    same_experiment = mlflow_client.get_run(unnamed.id).info.artifact_uri  # where MLflow's store puts a run's files
    assert same_experiment.replace(unnamed.id, "RUN") == reference.info.artifact_uri.replace(made.info.run_id, "RUN")
