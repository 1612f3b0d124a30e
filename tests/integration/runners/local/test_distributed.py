"""Distributed PyTorch jobs on local compute: N rank processes, one log, fail-fast, cancel, and clear refusals."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import psutil
import pytest
from sklearn.datasets import load_digits

from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer, job_processes, wait_for, write_job

EXAMPLE = REPO / "examples" / "pytorch-distributed" / "job.yml"


def test_the_ddp_example_runs_every_rank_and_registers_rank_zeros_model(
    workspace: WorkspaceServer, mlflow_client
) -> None:  # type: ignore[no-untyped-def]
    result = workspace.cli("job", "create", "-f", str(EXAMPLE), "--stream", "-o", "json", check=True)
    for rank in (0, 1):
        assert f"[rank {rank}] rank {rank} of 2 ran on cpu (gloo): trained on 674 of 1347 images" in result.stdout
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "completed" and view["gpu_ids"] == []
    assert view["metrics"]["test_accuracy"] > 0.9
    assert view["params"]["world_size"] == "2" and view["params"]["backend"] == "gloo"
    # one MLflow run for all ranks; only rank 0 logged, once per epoch
    history = mlflow_client.get_metric_history(view["id"], "train_loss")
    assert [m.step for m in history] == list(range(1, 16))

    with workspace.client() as client:
        version = client.models.get_version("digits-ddp", "latest")
    assert version.job == view["name"] and version.type == "mlflow_model"
    model = mlflow.pyfunc.load_model(f"models:/digits-ddp/{version.version}")
    X, y = load_digits(return_X_y=True)
    probabilities = model.predict(X[:200].astype(np.float32))
    assert probabilities.shape == (200, 10)
    assert (probabilities.argmax(axis=1) == y[:200]).mean() > 0.9


RANKS_SCRIPT = """\
import os, pathlib, subprocess, sys, time
rank = int(os.environ["RANK"])
child = subprocess.Popen(["sleep", "300"])  # each rank starts a process of its own
print(f"rank {rank} of {os.environ['WORLD_SIZE']} started", flush=True)
if rank == int(sys.argv[1]):
    time.sleep(0.5)
    raise ValueError(f"rank {rank} found no data")
time.sleep(300)
"""


def _ranks_job(tmp_path: Path, ranks: int, failing_rank: int) -> Path:
    text = f"""\
        command: python ranks.py {failing_rank}
        code: ./src
        distribution:
          type: pytorch
          process_count_per_instance: {ranks}
        """
    return write_job(tmp_path, textwrap.dedent(text), {"ranks.py": RANKS_SCRIPT})


def _job_pids(home: Path, job_id: str, ranks: int) -> list[int]:
    """The ranks and their children as this machine sees them (the job's sandbox has pids of its own)."""

    def started() -> list[int]:
        processes = job_processes(home, job_id)
        try:
            commands = [" ".join(process.cmdline()) for process in processes]
        except psutil.Error:
            return []
        sleeps, ranks_seen = commands.count("sleep 300"), sum("ranks.py" in c and "bash" not in c for c in commands)
        return [process.pid for process in processes] if sleeps == ranks and ranks_seen >= ranks else []

    return list(wait_for(started, what="every rank to start"))


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_failing_rank_fails_the_job_with_its_error_and_stops_the_others(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    with workspace.client() as client:
        job = client.jobs.create(_ranks_job(tmp_path, ranks=2, failing_rank=1))
        pids = _job_pids(workspace.home, job.id, 2)
        job.wait(timeout=60)
        log = "".join(client.jobs.logs(job.name))
    assert job.status == JobStatus.FAILED and job.view.exit_code == 1
    reason = job.view.failure_reason or ""
    assert "rank 1 of the command (2 processes) exited with code 1" in reason
    assert "ValueError: rank 1 found no data" in reason
    assert "[rank 0] rank 0 of 2 started" in log and "[rank 1] ValueError: rank 1 found no data" in log
    wait_for(lambda: not any(_running(p) for p in pids), timeout=15, what="no rank process left behind")


def test_cancel_ends_every_rank_and_what_they_started(workspace: WorkspaceServer, tmp_path: Path) -> None:
    with workspace.client() as client:
        job = client.jobs.create(_ranks_job(tmp_path, ranks=3, failing_rank=-1))
        pids = _job_pids(workspace.home, job.id, 3)
        assert all(_running(p) for p in pids)
        assert "canceled" in workspace.cli("job", "cancel", "-n", job.name, check=True).stdout
        wait_for(lambda: client.jobs.get(job.name).status.is_terminal, timeout=30, what="the job to end")
        assert client.jobs.get(job.name).status == JobStatus.CANCELED
    wait_for(lambda: not any(_running(p) for p in pids), timeout=15, what="every rank and child to end")


BAD_FIELDS = {
    "several-machines": (
        "resources:\n  instance_count: 2\n",
        ["resources.instance_count", "local compute is one machine", "distribution.process_count_per_instance"],
    ),
    "mpi": (
        "distribution:\n  type: mpi\n  process_count_per_instance: 2\n",
        ["distribution.type", "'mpi' is not supported on local compute", "supported: pytorch"],
    ),
    "tensorflow": (
        "distribution:\n  type: tensorflow\n  worker_count: 2\n",
        ["distribution.type", "'tensorflow' is not supported on local compute", "supported: pytorch"],
    ),
    "unknown-type": (
        "distribution:\n  type: horovod\n",
        ["distribution.type", "line 3", "'pytorch', 'mpi', 'tensorflow' or 'ray'"],
    ),
    "field-of-another-type": (
        "distribution:\n  type: pytorch\n  worker_count: 2\n",
        ["distribution", "worker_count is not a field of distribution type 'pytorch'", "process_count_per_instance"],
    ),
    "no-processes": (
        "distribution:\n  type: pytorch\n  process_count_per_instance: 0\n",
        ["distribution.process_count_per_instance", "line 4", "greater than or equal to 1"],
    ),
    "gpus-on-a-machine-without": ("resources:\n  gpu_count: 1\n", ["resources.gpu_count", "has no GPUs", "KILN_GPUS"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_distribution_and_resources_local_compute_cannot_run_are_refused(
    case: str, workspace: WorkspaceServer, tmp_path: Path
) -> None:
    text, expected = BAD_FIELDS[case]
    job_file = write_job(tmp_path, "command: echo hi\n" + text)
    with workspace.client() as client:
        before = len(client.jobs.list(limit=10_000))
        result = workspace.cli("job", "create", "-f", str(job_file))
        assert result.returncode != 0 and result.stderr.startswith("error: "), result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        for fragment in expected:
            assert fragment in result.stderr
        assert len(client.jobs.list(limit=10_000)) == before
