"""A job's TensorBoard folder on this machine: the job's ``./logs`` and its MLflow metrics as event files.

    <folder>/logs/       the job's ./logs as kept when it ended (while it runs: what it has written so far),
                         as ``kiln job download --output-name logs`` writes it
    <folder>/mlflow/     its MLflow metric histories as scalars (tracking.tensorboard_export)

Given to TensorBoard as the group ``JOB``, these are the runs ``JOB/logs`` (and ``JOB/logs/SUB`` for
subfolders, e.g. Keras's ``train`` and ``validation``) and ``JOB/mlflow``.

:meth:`JobTensorBoardFolder.refresh` brings the folder up to date and can be called again while
the job runs. Event files only ever grow, so a refresh appends the new bytes to the local copy
instead of replacing it: a TensorBoard already reading the folder goes on where it stopped.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from kiln.errors import KilnError, NotFound
from kiln.sdk.jobs import JobOperations
from kiln.specs.views import LOGS_OUTPUT
from kiln.tensorboard.export import EXPORT_FOLDER, MetricExporter

EVENT_FILE_MARK = "tfevents"  # TensorBoard reads every file whose name contains it


@dataclass
class Refreshed:
    files: int  # log files fetched or grown
    points: int  # MLflow metric values newly exported
    ended: bool  # the job had ended: nothing more will come


class JobTensorBoardFolder:
    """One job's logs and MLflow metrics in ``folder``. An unknown job raises NotFound at once; nothing
    is written before the first :meth:`refresh`."""

    def __init__(self, jobs: JobOperations, name: str, folder: Path, *, mlflow_metrics: bool = True) -> None:
        self.name = jobs.get(name).name
        self.folder = folder
        self.ended = False
        self._jobs = jobs
        self._metrics = MetricExporter(folder / EXPORT_FOLDER) if mlflow_metrics else None
        self._refreshed_before = False

    @property
    def has_logs(self) -> bool:
        """Whether the job wrote anything to ./logs (that was fetched)."""
        return (self.folder / LOGS_OUTPUT).is_dir()

    @property
    def exports_metrics(self) -> bool:
        return self._metrics is not None

    def refresh(self, on_bytes: Callable[[int], Any] | None = None) -> Refreshed:
        """Fetch what is new in the job's logs and metrics; ``on_bytes(n)`` reports download progress."""
        if not self._refreshed_before and self._metrics:
            self._metrics.clear()  # an earlier session's export: the first write holds every point again
        self._refreshed_before = True
        ended = self._jobs.get(self.name).status.is_terminal  # read first: an ended job's logs are final
        files = self._fetch_logs(on_bytes)
        points = self._metrics.write(self._jobs.metric_histories(self.name)) if self._metrics else 0
        self.ended = ended
        return Refreshed(files, points, ended)

    def _fetch_logs(self, on_bytes: Callable[[int], Any] | None) -> int:
        try:
            with self._jobs.open_output(self.name, LOGS_OUTPUT, on_bytes) as archive:
                return merge_archive(archive, self.folder)
        except NotFound:
            return 0  # the job wrote nothing to ./logs (or nothing yet)
        except tarfile.TarError as exc:  # a running job ended (and its folder went) while this read it
            raise KilnError(f"the logs of job '{self.name}' arrived incomplete ({exc}); try again") from exc


def merge_archive(archive: IO[bytes], dest: Path) -> int:
    """Bring ``dest`` up to date with a tar (of a job output); return how many files changed.

    Event files that grew get only their new bytes appended; other files are replaced whole."""
    changed = 0
    with tarfile.open(fileobj=archive, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            changed += _merge_file(source, member.size, dest / _relative_path(member.name))
    return changed


def _relative_path(name: str) -> Path:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise KilnError(f"refusing archive member '{name}': it would be written outside the folder")
    return Path(*path.parts)


def _merge_file(source: IO[bytes], size: int, target: Path) -> int:
    have = target.stat().st_size if target.is_file() else None
    if have is not None and EVENT_FILE_MARK in target.name and have <= size:
        if have == size:
            return 0
        _skip(source, have)
        with target.open("ab") as out:
            shutil.copyfileobj(source, out)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".kiln-partial-{os.getpid()}"  # no 'tfevents' in it: TensorBoard ignores it
    with partial.open("wb") as out:
        shutil.copyfileobj(source, out)
    os.replace(partial, target)
    return 1


def _skip(source: IO[bytes], count: int) -> None:
    while count > 0:
        chunk = source.read(min(count, 1 << 20))
        if not chunk:
            raise tarfile.ReadError("unexpected end of data")
        count -= len(chunk)
