"""TensorBoard in a kiln job: the job's log folder, and a scalar writer that does not need TensorFlow.

Every kiln job gets a TensorBoard log folder in ``KILN_TENSORBOARD_DIR`` (``./logs`` under the
job's working directory, kept with the job). Keras's ``TensorBoard`` callback and
``torch.utils.tensorboard`` write there as they are; but with TensorFlow installed,
``import torch.utils.tensorboard`` pulls TensorFlow in (seconds and ~1 GB).
:class:`ScalarWriter` writes the same event files with only the ``tensorboard`` package.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path
from typing import Any

from kiln.extras import LazyExtra

LOG_DIR_VARIABLE = "KILN_TENSORBOARD_DIR"
DEFAULT_LOG_DIR = "logs"

_WRITER = "kiln.integrations.tensorboard.ScalarWriter"
_events = LazyExtra("tensorboard", "tensorboard.compat.proto.event_pb2", needed_by=_WRITER)
_summaries = LazyExtra("tensorboard", "tensorboard.compat.proto.summary_pb2", needed_by=_WRITER)
_records = LazyExtra("tensorboard", "tensorboard.summary.writer.record_writer", needed_by=_WRITER)


def log_dir(*parts: str) -> Path:
    """The job's TensorBoard folder (``KILN_TENSORBOARD_DIR``, else ``./logs``), or a folder below
    it such as ``log_dir("train")``; created if missing."""
    folder = Path(os.environ.get(LOG_DIR_VARIABLE) or DEFAULT_LOG_DIR).joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class ScalarWriter:
    """Scalars as TensorBoard event files: ``add_scalar(tag, value, step)``, like
    ``torch.utils.tensorboard.SummaryWriter`` but importing neither TensorFlow nor PyTorch
    (tensorboard's own ``EventFileWriter`` opens files through TensorFlow when it is installed)."""

    def __init__(self, folder: str | Path | None = None, *, flush_secs: float = 10.0) -> None:
        self.folder = Path(folder) if folder is not None else log_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_counter)}"
        self.path = self.folder / name
        self._file = self.path.open("wb")
        self._records = _records.RecordWriter(self._file)
        self._flush_secs = flush_secs
        self._flushed = time.monotonic()
        self._write(_events.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def add_scalar(self, tag: str, value: float, step: int, wall_time: float | None = None) -> None:
        summary = _summaries.Summary(value=[_summaries.Summary.Value(tag=tag, simple_value=float(value))])
        self._write(_events.Event(wall_time=wall_time or time.time(), step=int(step), summary=summary))

    def add_scalars(self, values: dict[str, float], step: int, wall_time: float | None = None) -> None:
        for tag, value in values.items():
            self.add_scalar(tag, value, step, wall_time)

    def _write(self, event: Any) -> None:
        self._records.write(event.SerializeToString())
        if time.monotonic() - self._flushed >= self._flush_secs:
            self.flush()

    def flush(self) -> None:
        self._file.flush()
        self._flushed = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> ScalarWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_counter = itertools.count()
