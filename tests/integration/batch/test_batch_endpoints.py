"""Batch endpoints end to end on the shared workspace: the example's classifier trained by its job, its files
registered as a data asset, then scored by a no-code MLflow deployment and by scripted ones — predictions equal the
model's own predict; append_row and summary_only; a failing file under and over error_threshold; a worker killed
mid-job replaced with no row lost or scored twice; cancel stopping every worker; bad input refused before any job."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import mlflow.sklearn
import pandas as pd
import psutil
import pytest

from kiln.errors import InvalidSpec, NotFound
from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer, job_processes, wait_for

EXAMPLE = REPO / "examples" / "batch-endpoint"
SCRIPTS = Path(__file__).parent / "scripts"
ENDPOINT = "heart"
FILES, ROWS = 8, 250


@pytest.fixture(scope="module")
def heart(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's train job run; its model registered (heart-classifier), its files as the data asset heart-data;
    the endpoint created with the no-code deployment as its default. The files' local folder."""
    folder = tmp_path_factory.mktemp("heart")
    with workspace.client() as client:
        job = client.jobs.create(EXAMPLE / "train.yml").wait(timeout=300)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        client.jobs.download(job.name, folder, "data")
        client.data.create(name="heart-data", path=str(folder / "data"))
        client.models.download("heart-classifier", "latest", folder / "model")
    workspace.cli("batch-endpoint", "create", "-f", str(EXAMPLE / "endpoint.yml"), check=True)
    made = workspace.cli(
        "batch-deployment", "create", "-f", str(EXAMPLE / "deployment.yml"), "--set-default", check=True
    )
    assert "heart/classifier created (the endpoint's default)" in made.stdout
    return folder


def expected(folder: Path) -> pd.DataFrame:
    """The model's own predictions for every row of every file."""
    model = mlflow.sklearn.load_model(str(next(p.parent for p in (folder / "model").rglob("MLmodel"))))
    frames = []
    for file in sorted((folder / "data").glob("*.csv")):
        rows = pd.read_csv(file)
        frames.append(pd.DataFrame({"file": file.name, "row": range(len(rows)), "prediction": model.predict(rows)}))
    return pd.concat(frames, ignore_index=True)


def scripted(workspace: WorkspaceServer, name: str, *settings: str) -> None:
    """A deployment ``name`` running tests/…/scripts/score_flaky.py, with ``settings`` (--set KEY=VALUE)."""
    spec = {
        "name": name, "endpoint_name": ENDPOINT, "model": "kiln:heart-classifier@latest",
        "code_configuration": {"code": str(SCRIPTS), "scoring_script": "score_flaky.py"},
        "max_concurrency_per_instance": 2, "mini_batch_size": 1,
        "retry_settings": {"max_retries": 1, "timeout": 60},
    }  # fmt: skip
    with workspace.client() as client:
        client.batch_deployments.create(spec, set_values=list(settings))


def workers_of(workspace: WorkspaceServer, job_id: str) -> list[psutil.Process]:
    """The job's worker processes: spawned, or the children of its pool's fork server (where its socket fits)."""
    processes = job_processes(workspace.home, job_id)
    spawned = [p for p in processes if "spawn_main" in " ".join(p.cmdline())]
    servers = [p for p in processes if "multiprocessing.forkserver" in " ".join(p.cmdline())]
    return spawned + [child for server in servers for child in server.children()]


def invoke(workspace: WorkspaceServer, deployment: str, *extra: str) -> str:
    answer = workspace.cli(
        "batch-endpoint", "invoke", "-n", ENDPOINT, "--deployment", deployment, "--input", "kiln:heart-data@latest",
        "-o", "json", *extra,
    )  # fmt: skip
    assert answer.stdout, answer.stderr
    return str(json.loads(answer.stdout)["name"])


def test_a_no_code_mlflow_deployment_scores_every_row_as_the_model_does(
    workspace: WorkspaceServer, heart: Path, tmp_path: Path
) -> None:
    target = tmp_path / "predictions.csv"
    done = workspace.cli(
        "batch-endpoint", "invoke", "-n", ENDPOINT, "--input", "kiln:heart-data@latest", "--stream",
        "--output-path", str(target),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"scoring {FILES} files ({FILES * ROWS} rows) in 4 mini-batches" in done.stdout
    assert f"progress: files {FILES}/{FILES}, rows {FILES * ROWS}/{FILES * ROWS}" in done.stdout
    assert f"predictions saved to {target}" in done.stdout
    got = pd.read_csv(target)
    pd.testing.assert_frame_equal(got, expected(heart), check_dtype=False)
    with workspace.client() as client:
        (job,) = client.batch_endpoints.list_jobs(ENDPOINT)[-1:]
        assert job.type == "batch_scoring" and job.tags["kiln.batch.deployment"] == "classifier"
        metrics = client.jobs.get(job.name, run_data=True).metrics
        assert metrics["rows_scored"] == FILES * ROWS and metrics["failed_mini_batches"] == 0
        assert metrics["rows_per_second"] > 0
    listed = workspace.cli("batch-endpoint", "list-jobs", "-n", ENDPOINT, check=True).stdout
    assert job.name[:8] in listed


def test_a_scripted_deployment_scores_a_local_folder_as_the_model_does(
    workspace: WorkspaceServer, heart: Path, tmp_path: Path
) -> None:
    made = workspace.cli("batch-deployment", "create", "-f", str(EXAMPLE / "deployment-scripted.yml"), check=True)
    assert "heart/scripted created" in made.stdout and "default" not in made.stdout
    target = tmp_path / "scripted.csv"
    done = workspace.cli(
        "batch-endpoint", "invoke", "-n", ENDPOINT, "--deployment", "scripted", "--input", str(heart / "data"),
        "--output-path", str(target),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    got = pd.read_csv(target)
    want = expected(heart)
    pd.testing.assert_frame_equal(got[["file", "row", "prediction"]], want, check_dtype=False)
    assert got["probability"].between(0, 1).all()


def test_summary_only_keeps_the_summary_and_no_predictions(
    workspace: WorkspaceServer, heart: Path, tmp_path: Path
) -> None:
    scripted(workspace, "summary", "output_action=summary_only", "mini_batch_size=4")
    name = invoke(workspace, "summary")
    with workspace.client() as client:
        job = client.jobs.get(name).wait(timeout=300)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        (folder,) = job.download(tmp_path, "predictions")
    assert sorted(p.name for p in folder.iterdir()) == ["summary.json"]
    summary = json.loads((folder / "summary.json").read_text())
    assert (
        summary["rows_scored"] == FILES * ROWS and summary["files_scored"] == FILES and summary["output_file"] is None
    )


def test_a_failing_file_under_the_threshold_is_named_and_the_job_completes_over_it_the_job_fails(
    workspace: WorkspaceServer, heart: Path, tmp_path: Path
) -> None:
    scripted(workspace, "tolerant", "error_threshold=1", "environment_variables.FAIL_ON=clinic-03.csv")
    scripted(workspace, "strict", "error_threshold=0", "environment_variables.FAIL_ON=clinic-03.csv")
    tolerant, strict = invoke(workspace, "tolerant"), invoke(workspace, "strict")
    with workspace.client() as client:
        job = client.jobs.get(tolerant).wait(timeout=300)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        log = "".join(client.jobs.logs(tolerant))
        assert "mini-batch 3 (clinic-03.csv) failed, try 1 of 2: ValueError: cannot score clinic-03.csv" in log
        assert "mini-batch 3 failed after 2 tries; files: clinic-03.csv" in log and "chosen to fail" in log
        (folder,) = job.download(tmp_path, "predictions")
        got = pd.read_csv(folder / "predictions.csv")
        assert len(got) == (FILES - 1) * ROWS and "clinic-03.csv" not in set(got["file"])
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["failed"] == [
            {
                "mini_batch": 3,
                "files": ["clinic-03.csv"],
                "error": "ValueError: cannot score clinic-03.csv: chosen to fail",
            }
        ]
        assert client.jobs.get(tolerant, run_data=True).metrics["failed_mini_batches"] == 1

        failed = client.jobs.get(strict).wait(timeout=300)
        assert failed.status == JobStatus.FAILED
        log = "".join(client.jobs.logs(strict))
        assert "1 files failed, more than error_threshold 0: the job fails (failed mini-batches: 3)" in log


def test_a_killed_worker_is_replaced_and_no_row_is_lost_or_scored_twice(
    workspace: WorkspaceServer, heart: Path, tmp_path: Path
) -> None:
    scripted(workspace, "slow", "environment_variables.DELAY=1.5", "retry_settings.max_retries=0")
    name = invoke(workspace, "slow")
    with workspace.client() as client:
        job_id = client.jobs.get(name).id
        log = lambda: "".join(client.jobs.logs(name))  # noqa: E731
        wait_for(lambda: "progress: files 1/" in log() or "files 2/" in log(), timeout=120, what="a scored mini-batch")
        assert len(workers_of(workspace, job_id)) == 2, [p.cmdline() for p in job_processes(workspace.home, job_id)]
        workers = workers_of(workspace, job_id)
        os.kill(workers[0].pid, signal.SIGKILL)
        job = client.jobs.get(name).wait(timeout=300)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "replaced a worker: its worker process died (killed by signal 9)" in log()
        (folder,) = job.download(tmp_path, "predictions")
    got = pd.read_csv(folder / "predictions.csv")
    pd.testing.assert_frame_equal(got, expected(heart), check_dtype=False)  # every row once, in order
    assert json.loads((folder / "summary.json").read_text())["replaced_workers"] == 1


def test_cancel_stops_every_worker(workspace: WorkspaceServer, heart: Path) -> None:
    scripted(workspace, "sleepy", "environment_variables.DELAY=30")
    name = invoke(workspace, "sleepy")
    with workspace.client() as client:
        job_id = client.jobs.get(name).id
        wait_for(lambda: len(workers_of(workspace, job_id)) == 2, timeout=120, what="two workers")
        before = job_processes(workspace.home, job_id)
        client.jobs.cancel(name)
        assert client.jobs.get(name).wait(timeout=60).status == JobStatus.CANCELED
    wait_for(
        lambda: not any(p.is_running() and p.status() != "zombie" for p in before), timeout=30, what="workers gone"
    )


def test_bad_input_is_refused_before_any_job(workspace: WorkspaceServer, heart: Path, tmp_path: Path) -> None:
    with workspace.client() as client:
        before = len(client.batch_endpoints.list_jobs(ENDPOINT))
        spec = {
            "name": "norun", "endpoint_name": ENDPOINT, "model": "kiln:heart-classifier@latest",
            "code_configuration": {"code": str(SCRIPTS), "scoring_script": "no_run.py"},
        }  # fmt: skip
        with pytest.raises(InvalidSpec, match=r"no_run.py defines no run\(mini_batch\)"):
            client.batch_deployments.create(spec)
        with pytest.raises(InvalidSpec, match="mini_batch_size.*at least one file"):
            client.batch_deployments.create({**spec, "code_configuration": None, "mini_batch_size": 0})
        with pytest.raises(InvalidSpec, match="no data asset named 'no-such-data'"):
            client.batch_endpoints.invoke(ENDPOINT, "kiln:no-such-data@latest")
        with pytest.raises(InvalidSpec, match="--input: './no/such/folder' not found"):
            client.batch_endpoints.invoke(ENDPOINT, "./no/such/folder")
        with pytest.raises(NotFound, match="batch deployment 'nobody' not found on endpoint 'heart'"):
            client.batch_endpoints.invoke(ENDPOINT, "kiln:heart-data@latest", deployment_name="nobody")
        client.batch_endpoints.create({"name": "heart-empty"})
        with pytest.raises(InvalidSpec, match="'heart-empty' has no default deployment"):
            client.batch_endpoints.invoke("heart-empty", "kiln:heart-data@latest")
        assert len(client.batch_endpoints.list_jobs(ENDPOINT)) == before
    refused = workspace.cli("batch-endpoint", "invoke", "-n", "nowhere", "--input", "kiln:heart-data@latest")
    assert refused.returncode != 0 and "error: batch endpoint 'nowhere' not found" in refused.stderr
    assert "Traceback" not in refused.stderr
