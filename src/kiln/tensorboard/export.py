"""MLflow metric histories as TensorBoard event files, so that a job that logged only to MLflow
shows in TensorBoard too (each metric key becomes a scalar tag, with MLflow's steps and times).

Exports are incremental: each :meth:`MetricExporter.write` adds one event file holding only the
points not written before, so TensorBoard, which reads event files as they grow and appear,
picks up a running job's new values without reading anything twice.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from kiln.specs.views import MetricHistory

EXPORT_FOLDER = "mlflow"
"""Below a job's TensorBoard folder: where its MLflow metrics go (TensorBoard run ``JOB/mlflow``)."""


class MetricPoint(NamedTuple):
    step: int
    timestamp_ms: int
    key: str
    value: float

    @property
    def identity(self) -> tuple[str, int, int, str]:
        # float.hex, because NaN != NaN would make a NaN point look new at every export
        return self.key, self.step, self.timestamp_ms, self.value.hex()


class MetricExporter:
    """Writes MLflow metric histories into ``folder`` as TensorBoard scalars."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._written: set[tuple[str, int, int, str]] = set()

    def clear(self) -> None:
        """Forget earlier exports (and their files), so that the next write holds every point."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._written.clear()

    def write(self, histories: Mapping[str, MetricHistory]) -> int:
        """Write the points not written before, in step order; return how many there were."""
        from kiln.integrations.tensorboard import ScalarWriter

        fresh = sorted(point for point in _points(histories) if point.identity not in self._written)
        if not fresh:
            return 0
        with ScalarWriter(self.folder) as writer:
            for point in fresh:
                writer.add_scalar(point.key, point.value, point.step, wall_time=point.timestamp_ms / 1000)
        self._written.update(point.identity for point in fresh)
        return len(fresh)


def _points(histories: Mapping[str, MetricHistory]) -> list[MetricPoint]:
    return [
        MetricPoint(step, timestamp, key, value)
        for key, history in histories.items()
        for step, value, timestamp in zip(history.steps, history.values, history.timestamps, strict=True)
    ]
