"""TensorBoard for jobs, end to end: a job's ./logs is kept and downloadable, its MLflow metrics are
exported as event files, and ``kiln tensorboard`` serves jobs side by side (real TensorBoard, read
through its own HTTP API and event reader) until Ctrl+C, leaving no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from kiln.errors import InvalidSpec
from kiln.processes import free_port
from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer, wait_for, write_job
from tests.conftest import job_file as job_file_in
from tests.unit.tensorboard.test_export import read_scalars

SCALARS_AND_MLFLOW = """\
import os, pathlib
import mlflow
from kiln.integrations.tensorboard import ScalarWriter, log_dir

folder = pathlib.Path(os.environ["KILN_TENSORBOARD_DIR"])
assert folder.is_dir() and folder.resolve() == (pathlib.Path.cwd() / "logs").resolve(), folder
with ScalarWriter() as writer:
    for step in range(5):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
with ScalarWriter(log_dir("validation")) as writer:
    writer.add_scalar("accuracy", 0.75, 4)
for step in range(4):
    mlflow.log_metric("mlflow_only", step * 2.0, step=step * 10)
"""

MLFLOW_ONLY = """\
import mlflow
for step in range(3):
    mlflow.log_metric("loss", 3.0 - step, step=step)
"""

WAITS_FOR_TRIGGER = """\
import pathlib, sys, time
import mlflow
from kiln.integrations.tensorboard import ScalarWriter

trigger = pathlib.Path(sys.argv[1])
writer = ScalarWriter()
writer.add_scalar("progress", 1.0, 0)
writer.flush()
mlflow.log_metric("live", 1.0, step=0)
while not trigger.exists():
    time.sleep(0.1)
writer.add_scalar("progress", 2.0, 1)
writer.close()
mlflow.log_metric("live", 2.0, step=1)
"""


@dataclass
class FinishedJobs:
    with_logs: str  # ScalarWriter scalars in ./logs and ./logs/validation, plus an MLflow-only metric
    mlflow_only: str  # no ./logs at all


@pytest.fixture(scope="module")
def finished(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> FinishedJobs:
    root = tmp_path_factory.mktemp("tensorboard-jobs")
    with workspace.client() as client:
        jobs = [
            client.jobs.create(write_job(root / name, "command: python main.py\ncode: ./src\n", {"main.py": script}))
            for name, script in (("with-logs", SCALARS_AND_MLFLOW), ("mlflow-only", MLFLOW_ONLY))
        ]
        for job in jobs:
            assert job.wait(timeout=180).status == JobStatus.COMPLETED, job.view.failure_reason
    return FinishedJobs(with_logs=jobs[0].name, mlflow_only=jobs[1].name)


def test_the_kept_logs_are_an_output_and_mlflow_artifacts(
    workspace: WorkspaceServer, finished: FinishedJobs, mlflow_client: Any, tmp_path: Path
) -> None:
    with workspace.client() as client:
        outputs = {o.name: o.available for o in client.jobs.get(finished.with_logs).view.outputs}
        assert outputs["logs"] is True
        assert {o.name: o.available for o in client.jobs.get(finished.mlflow_only).view.outputs}["logs"] is False

    workspace.cli("job", "download", "-n", finished.with_logs, "--output-name", "logs", "--download-path", str(tmp_path), check=True)  # fmt: skip
    loss = read_scalars(tmp_path / "logs")["train/loss"]
    assert [(step, value) for step, value, _ in loss] == [(s, pytest.approx(1.0 / (s + 1))) for s in range(5)]
    assert [(step, value) for step, value, _ in read_scalars(tmp_path / "logs" / "validation")["accuracy"]] == [
        (4, 0.75)
    ]

    artifacts = {a.path for a in mlflow_client.list_artifacts(finished.with_logs, "logs")}
    assert "logs/validation" in artifacts and any("tfevents" in path for path in artifacts)

    empty = workspace.cli("job", "download", "-n", finished.mlflow_only, "--output-name", "logs")
    assert empty.returncode != 0 and "wrote nothing to ./logs" in empty.stderr


def test_export_only_writes_the_logs_and_the_mlflow_metrics_as_event_files(
    workspace: WorkspaceServer, finished: FinishedJobs, mlflow_client: Any, tmp_path: Path
) -> None:
    result = workspace.cli("tensorboard", finished.with_logs, finished.mlflow_only, "--export-only", "--folder", str(tmp_path), check=True)  # fmt: skip
    assert str(tmp_path) in result.stdout

    job = tmp_path / finished.with_logs
    assert [step for step, _, _ in read_scalars(job / "logs")["train/loss"]] == [0, 1, 2, 3, 4]
    exported = read_scalars(job / "mlflow")["mlflow_only"]
    history = mlflow_client.get_metric_history(finished.with_logs, "mlflow_only")
    assert [(step, value) for step, value, _ in exported] == [(0, 0.0), (10, 2.0), (20, 4.0), (30, 6.0)]
    assert sorted(wall for _, _, wall in exported) == pytest.approx(sorted(m.timestamp / 1000 for m in history))

    only_mlflow = tmp_path / finished.mlflow_only
    assert [(step, value) for step, value, _ in read_scalars(only_mlflow / "mlflow")["loss"]] == [(0, 3.0), (1, 2.0), (2, 1.0)]  # fmt: skip
    assert not (only_mlflow / "logs").exists()

    # again, into the same folder, without MLflow metrics: the logs are merged, not doubled
    workspace.cli("tensorboard", finished.with_logs, "--export-only", "--no-mlflow-metrics", "--folder", str(tmp_path), check=True)  # fmt: skip
    assert len(read_scalars(job / "logs")["train/loss"]) == 5


def test_mistakes_get_clear_errors(workspace: WorkspaceServer, finished: FinishedJobs, tmp_path: Path) -> None:
    unknown = workspace.cli("tensorboard", finished.with_logs, "no-such-job", "--folder", str(tmp_path))
    assert unknown.returncode != 0
    assert unknown.stderr.startswith("error: job 'no-such-job' not found") and "kiln job list" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert not (tmp_path / finished.with_logs).exists()  # nothing fetched before every name was known

    with _listening_socket() as port:
        busy = workspace.cli("tensorboard", finished.with_logs, "--port", str(port), "--folder", str(tmp_path))
    assert busy.returncode != 0
    assert f"port {port}" in busy.stderr and "in use" in busy.stderr and "--port" in busy.stderr

    # the output 'logs' is the job's ./logs: a job cannot declare its own
    job_file = write_job(tmp_path / "job", "command: echo ${{outputs.logs}}\noutputs:\n  logs: {type: uri_folder}\n")
    with (
        workspace.client() as client,
        pytest.raises(InvalidSpec, match="outputs.logs: 'logs' is the name kiln gives ./logs"),
    ):
        client.jobs.create(job_file)


def test_kiln_tensorboard_serves_jobs_side_by_side_until_ctrl_c(
    workspace: WorkspaceServer, finished: FinishedJobs, tmp_path: Path
) -> None:
    with workspace.client() as client:
        running = client.jobs.create(
            write_job(tmp_path / "job", "command: python main.py go\ncode: ./src\n", {"main.py": WAITS_FOR_TRIGGER})
        )
        trigger = job_file_in(workspace.home, running.id, "go")  # the job's ./go
        wait_for(lambda: running.refresh(run_data=True).view.metrics, timeout=120, what="the running job's first metric")  # fmt: skip
        folder = tmp_path / "tb"
        port = free_port()
        with _kiln_tensorboard(workspace, [finished.with_logs, finished.mlflow_only, running.name, "--port", str(port), "--folder", str(folder), "--refresh", "1"]) as cli:  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: f"TensorBoard at {url}/" in cli.stdout_text(), timeout=240, what="TensorBoard's URL")
            runs = {f"{finished.with_logs}/logs", f"{finished.with_logs}/logs/validation", f"{finished.with_logs}/mlflow", f"{finished.mlflow_only}/mlflow", f"{running.name}/logs", f"{running.name}/mlflow"}  # fmt: skip
            wait_for(lambda: runs <= set(httpx.get(f"{url}/data/runs").json()), timeout=60, what="every job's runs")

            tags = httpx.get(f"{url}/data/plugin/scalars/tags").json()
            assert "train/loss" in tags[f"{finished.with_logs}/logs"]
            assert "accuracy" in tags[f"{finished.with_logs}/logs/validation"]
            assert "mlflow_only" in tags[f"{finished.with_logs}/mlflow"]
            assert "loss" in tags[f"{finished.mlflow_only}/mlflow"]
            assert _series(url, f"{finished.mlflow_only}/mlflow", "loss") == [(0, 3.0), (1, 2.0), (2, 1.0)]
            assert _series(url, f"{running.name}/logs", "progress") == [(0, 1.0)]  # fetched while it runs

            trigger.write_text("go")
            assert running.wait(timeout=60).status == JobStatus.COMPLETED
            # fetched again once it ended; the event file grew in place, so TensorBoard reads on
            wait_for(lambda: _series(url, f"{running.name}/logs", "progress") == [(0, 1.0), (1, 2.0)], timeout=60, what="the job's last scalar")  # fmt: skip
            wait_for(lambda: _series(url, f"{running.name}/mlflow", "live") == [(0, 1.0), (1, 2.0)], timeout=60, what="the job's last metric")  # fmt: skip

            cli.process.send_signal(signal.SIGINT)
            assert cli.process.wait(60) == 0, cli.stderr_text()
    assert not _tensorboard_processes(folder)


def _series(url: str, run: str, tag: str) -> list[tuple[int, float]]:
    response = httpx.get(f"{url}/data/plugin/scalars/scalars", params={"run": run, "tag": tag})
    return [(step, value) for _wall, step, value in response.json()] if response.status_code == 200 else []


def _tensorboard_processes(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if "tensorboard.main" in cmdline and str(folder) in cmdline:
            found.append(process)
    return found


@dataclass
class RunningCli:
    process: subprocess.Popen[str]
    lines: list[str]
    stderr_file: Path

    def stdout_text(self) -> str:
        return "".join(self.lines)

    def stderr_text(self) -> str:
        return self.stderr_file.read_text()


@contextmanager
def _kiln_tensorboard(workspace: WorkspaceServer, args: list[str]) -> Iterator[RunningCli]:
    """``kiln tensorboard ARGS`` in the background, its stdout collected; interrupted if still running at the end."""
    env = {**workspace.env, "KILN_URL": workspace.url, "KILN_TOKEN": workspace.token}
    stderr_file = workspace.home / f"tensorboard-cli-{os.getpid()}.err"
    with stderr_file.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "kiln", "tensorboard", *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=REPO, preexec_fn=_ctrl_c_as_in_a_terminal,
        )  # fmt: skip
    cli = RunningCli(process, [], stderr_file)
    threading.Thread(target=_collect_lines, args=(process, cli.lines), daemon=True).start()
    try:
        yield cli
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ctrl_c_as_in_a_terminal() -> None:
    """SIGINT delivered, as a terminal's Ctrl+C is, even where the suite runs in a background job: a shell without job
    control starts those with SIGINT ignored, which a child inherits, and Python then raises no KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _collect_lines(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)


@contextmanager
def _listening_socket() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])
