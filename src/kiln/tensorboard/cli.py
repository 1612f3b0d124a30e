"""``kiln tensorboard JOB [JOB…]``: TensorBoard over jobs side by side.

Each job gets a folder (default ``KILN_HOME/tensorboard/JOB``) holding its ``./logs`` in ``logs/``
(kept when it ended; while it runs, what it has written so far, fetched again every ``--refresh``
seconds) and its MLflow metrics exported as event files in ``mlflow/``. TensorBoard shows them as
the runs ``JOB/logs`` (``JOB/logs/SUB`` for subfolders, e.g. Keras's ``train`` and ``validation``)
and ``JOB/mlflow``.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import DownloadColumn, Progress, SpinnerColumn, TextColumn

from kiln.cli.render import console, err_console
from kiln.cli.workspace import client
from kiln.config import default_home
from kiln.errors import KilnError
from kiln.tensorboard.job_folder import JobTensorBoardFolder, Refreshed
from kiln.tensorboard.server import TensorBoardServer, choose_port


def tensorboard_command(
    jobs: Annotated[list[str], typer.Argument(help="Jobs to show side by side (names or ids).", metavar="JOB...")],
    port: Annotated[
        int | None, typer.Option(help="TensorBoard's port on 127.0.0.1 (default 6006, else a free one).")
    ] = None,
    folder: Annotated[
        Path | None, typer.Option("--folder", help="Where the jobs' logs go (default KILN_HOME/tensorboard).")
    ] = None,
    export_only: Annotated[
        bool, typer.Option("--export-only", help="Write the event files and print where; do not start TensorBoard.")
    ] = False,
    mlflow_metrics: Annotated[
        bool, typer.Option("--mlflow-metrics/--no-mlflow-metrics", help="Export the jobs' MLflow metrics too.")
    ] = True,
    refresh: Annotated[
        float, typer.Option(help="Seconds between fetches of what running jobs add (0: fetch once).", min=0)
    ] = 15.0,
) -> None:
    """Show jobs in TensorBoard: their ./logs and their MLflow metrics, until Ctrl+C."""
    if not export_only:  # only TensorBoard itself needs the extra; the event files are kiln's own
        from kiln.tensorboard import CAPABILITY

        CAPABILITY.check_installed(needed_by="kiln tensorboard (without --export-only)")
    chosen_port = None if export_only else choose_port(port)  # a busy port fails before any download
    base = (folder or default_home() / "tensorboard").expanduser().resolve()
    folders = [
        JobTensorBoardFolder(client().jobs, name, base / name, mlflow_metrics=mlflow_metrics)
        for name in dict.fromkeys(jobs)  # unknown names fail here, before anything is written
    ]
    _first_refresh(folders)
    if chosen_port is None:
        console.print(f"event files written to {base}", soft_wrap=True)
        console.print(f"view them with: tensorboard --logdir_spec {_spec(folders)}", soft_wrap=True)
        return
    groups = {job.name: job.folder for job in folders}
    with TensorBoardServer(groups, chosen_port, base / "tensorboard.log") as server:
        console.print(f"TensorBoard at [bold]{server.url}[/] (Ctrl+C stops it)", soft_wrap=True)
        sys.stdout.flush()
        try:
            _follow(folders, server, refresh)
        except KeyboardInterrupt:
            err_console.print("stopping TensorBoard")


def _first_refresh(folders: list[JobTensorBoardFolder]) -> None:
    """Fetch every job's logs and metrics once, with a progress line per job."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), DownloadColumn())
    outcomes = []
    with Progress(*columns, console=err_console, transient=True) as progress:
        for job in folders:
            task = progress.add_task(f"{job.name}: logs and metrics", total=None)
            outcomes.append((job, _refresh(job, functools.partial(progress.advance, task))))
    for job, outcome in outcomes:
        if outcome is not None:
            console.print(_summary(job, outcome), soft_wrap=True)


def _follow(folders: list[JobTensorBoardFolder], server: TensorBoardServer, refresh: float) -> None:
    """Until Ctrl+C: fetch what running jobs add every ``refresh`` seconds; watch that TensorBoard lives."""
    next_refresh = time.monotonic() + refresh
    while True:
        server.check_running()
        running = [job for job in folders if not job.ended]
        if refresh and running and time.monotonic() >= next_refresh:
            _refresh_all(running)
            next_refresh = time.monotonic() + refresh
        time.sleep(0.5)


def _refresh_all(running: Iterable[JobTensorBoardFolder]) -> None:
    for job in running:
        outcome = _refresh(job)
        if outcome is not None and outcome.ended:
            err_console.print(f"[dim]{_summary(job, outcome)}[/]", soft_wrap=True)


def _refresh(job: JobTensorBoardFolder, on_bytes: Callable[[int], Any] | None = None) -> Refreshed | None:
    try:
        return job.refresh(on_bytes)
    except KilnError as exc:  # shown, and tried again at the next refresh while the job runs
        err_console.print(f"[yellow]warning:[/] job {job.name}: {exc.message}", soft_wrap=True)
        return None


def _summary(job: JobTensorBoardFolder, outcome: Refreshed) -> str:
    state = "ended" if outcome.ended else "still running"
    parts = [f"./logs ({outcome.files} files new or grown)" if job.has_logs else "no ./logs"]
    if job.exports_metrics:
        parts.append(f"{outcome.points} new MLflow metric values")
    return f"{job.name} ({state}) in {job.folder}: {', '.join(parts)}"


def _spec(folders: list[JobTensorBoardFolder]) -> str:
    return ",".join(f"{job.name}:{job.folder}" for job in folders)
