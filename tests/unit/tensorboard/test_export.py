"""MLflow metric histories as TensorBoard scalars, and merging a job's logs into a local copy that
TensorBoard may be reading (read back with TensorBoard's own EventAccumulator)."""

from __future__ import annotations

import io
import math
import tarfile
from pathlib import Path

import pytest

from kiln.errors import KilnError
from kiln.specs.views import MetricHistory
from kiln.tensorboard.export import MetricExporter
from kiln.tensorboard.job_folder import merge_archive

Scalars = dict[str, list[tuple[int, float, float]]]


def read_scalars(folder: Path) -> Scalars:
    """Every scalar TensorBoard finds in the event files of ``folder``: tag -> [(step, value, wall time)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value, event.wall_time) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def test_metric_histories_become_scalars_with_their_steps_and_times(tmp_path: Path) -> None:
    histories = {
        "loss": MetricHistory(
            steps=[2, 0, 1],
            values=[0.25, 1.0, 0.5],
            timestamps=[1_700_000_002_000, 1_700_000_000_000, 1_700_000_001_500],
        ),
        "accuracy": MetricHistory(steps=[5], values=[0.9], timestamps=[1_700_000_003_000]),
    }
    assert MetricExporter(tmp_path).write(histories) == 4
    scalars = read_scalars(tmp_path)
    assert [(step, value) for step, value, _ in scalars["loss"]] == [(0, 1.0), (1, 0.5), (2, 0.25)]
    assert [wall for _, _, wall in scalars["loss"]] == pytest.approx(
        [1_700_000_000.0, 1_700_000_001.5, 1_700_000_002.0]
    )
    assert [(step, value) for step, value, _ in scalars["accuracy"]] == [(5, pytest.approx(0.9))]


def test_a_later_export_writes_only_the_new_points(tmp_path: Path) -> None:
    exporter = MetricExporter(tmp_path / "mlflow")
    first = MetricHistory(steps=[0, 1], values=[1.0, math.nan], timestamps=[1000, 2000])
    assert exporter.write({"loss": first}) == 2
    grown = MetricHistory(steps=[0, 1, 2], values=[1.0, math.nan, 0.5], timestamps=[1000, 2000, 3000])
    assert exporter.write({"loss": grown}) == 1  # NaN is not taken for a new point
    assert exporter.write({"loss": grown}) == 0
    assert len(list((tmp_path / "mlflow").iterdir())) == 2  # one event file per export that had news
    values = [value for _, value, _ in read_scalars(tmp_path / "mlflow")["loss"]]
    assert values[0] == 1.0 and math.isnan(values[1]) and values[2] == 0.5 and len(values) == 3

    exporter.clear()
    assert not (tmp_path / "mlflow").exists()
    assert exporter.write({"loss": grown}) == 3


def _tar(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer


def test_merging_appends_to_grown_event_files_and_replaces_other_files(tmp_path: Path) -> None:
    event = "logs/train/events.out.tfevents.1.host.1.0"
    assert merge_archive(_tar({event: b"record1", "logs/config.json": b'{"a": 1}'}), tmp_path) == 2
    inode = (tmp_path / event).stat().st_ino

    assert merge_archive(_tar({event: b"record1record2", "logs/config.json": b"{}"}), tmp_path) == 2
    assert (tmp_path / event).read_bytes() == b"record1record2"
    assert (tmp_path / event).stat().st_ino == inode  # grown in place: a reader keeps its open file
    assert (tmp_path / "logs" / "config.json").read_bytes() == b"{}"
    assert merge_archive(_tar({event: b"record1record2"}), tmp_path) == 0  # nothing new
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["config.json", "train"]  # no partial files


def test_merging_refuses_members_outside_the_folder(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(KilnError, match="outside"):
        merge_archive(_tar({"logs/../../evil.txt": b"x"}), dest)
    assert not (tmp_path / "evil.txt").exists()
