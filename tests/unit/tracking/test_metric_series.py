"""MetricSeries: a run's metrics read from MLflow's tables, downsampled in SQL (first, last, lowest and highest
point of each bucket), whole when short, and only what came after a point already shown."""

from __future__ import annotations

import math
import time

import pytest
from sqlalchemy import create_engine, insert

from kiln.tracking.metric_series import After, MetricSeries

RUN = "a" * 32


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> MetricSeries:
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    engine = create_engine(uri)
    for table in (SqlMetric.__table__, SqlLatestMetric.__table__):
        table.create(engine)  # MLflow's own definitions (SQLite does not enforce their foreign keys)
    loss = [
        {"run_uuid": RUN, "key": "loss", "step": step, "timestamp": 1_000_000 + step * 10, "is_nan": False,
         "value": 1000.0 if step == 54_321 else (-5.0 if step == 77_777 else 1.0 / (step + 1))}
        for step in range(100_000)
    ]  # fmt: skip
    short = [
        {"run_uuid": RUN, "key": "acc", "step": step, "timestamp": 5 + step, "value": 0.0, "is_nan": step == 3}
        for step in range(10)
    ]
    other_run = [
        {"run_uuid": "b" * 32, "key": "loss", "step": step, "timestamp": step, "value": 9.0, "is_nan": False}
        for step in range(50_000)
    ]  # another run's "loss": not read, not even scanned (MLflow's run_uuid, key, step index)
    with engine.begin() as connection:
        connection.execute(insert(SqlMetric.__table__), loss + short + other_run)
        connection.execute(
            insert(SqlLatestMetric.__table__),
            [{"run_uuid": RUN, "key": key, "step": 0, "timestamp": 0, "value": 0.0, "is_nan": False}
             for key in ("loss", "acc")],
        )  # fmt: skip
    engine.dispose()
    return MetricSeries(uri)


def test_a_long_series_is_thinned_keeping_ends_and_extremes(series: MetricSeries) -> None:
    loss = series.read(RUN, max_points=1000)["loss"]
    assert 500 <= len(loss.steps) <= 1000
    assert loss.steps == sorted(loss.steps)
    assert loss.steps[0] == 0 and loss.steps[-1] == 99_999  # where it starts and ends
    assert 54_321 in loss.steps and 77_777 in loss.steps  # the spike and the dip survive
    assert max(loss.values) == 1000.0 and min(loss.values) == -5.0
    assert all(t == 1_000_000 + s * 10 for s, t in zip(loss.steps, loss.timestamps, strict=True))


def test_a_short_series_comes_whole_with_nan(series: MetricSeries) -> None:
    acc = series.read(RUN, max_points=1000)["acc"]
    assert acc.steps == list(range(10))
    assert math.isnan(acc.values[3]) and acc.values[4] == 0.0
    assert len(series.read(RUN, max_points=None)["loss"].steps) == 100_000


def test_only_points_after_one_already_shown(series: MetricSeries) -> None:
    newer = series.read(RUN, max_points=1000, after={"acc": After(step=7, timestamp=12), "loss": After(99_997)})
    assert newer["acc"].steps == [8, 9]
    assert newer["loss"].steps == [99_998, 99_999]
    assert series.read(RUN, after={"acc": After(step=7, timestamp=11)})["acc"].steps == [7, 8, 9]


def test_100000_points_are_thinned_fast(series: MetricSeries) -> None:
    series = MetricSeries(series._store_uri)  # nothing thinned yet
    series.read(RUN, max_points=None)  # connected
    started = time.perf_counter(), time.process_time()
    series.read(RUN, max_points=1000)
    wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    print(f"\n100,000 points to ≤1,000: {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU")
    assert cpu < 0.3
    started = time.perf_counter(), time.process_time()
    assert series.read(RUN, max_points=1000) == series.read(RUN, max_points=1000)
    again = (time.process_time() - started[1]) / 2
    print(f"again (the same points): {again * 1000:.0f} ms CPU")
    assert again < cpu
    assert "INDEXED BY" in series._table  # SQLite is told which index to use
