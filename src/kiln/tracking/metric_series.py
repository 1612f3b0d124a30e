"""A run's metric series read straight from MLflow's database, downsampled in SQL for charts.

MLflow's client pages through a long history 25,000 points a request, as objects: a 100,000-point series
takes seconds. A chart needs about a thousand points, so this asks MLflow's own ``metrics`` table (its index
``run_uuid, key, step``) for at most ``max_points`` per series, as MLflow's ``get-history-bulk-interval``
thins a history, better: the steps are cut into equal buckets and each bucket keeps the points with its
lowest and highest value (at their own steps), so a spike or a dip is never smoothed away, and the series
keeps its first and last point. A series short enough comes whole. The last few thinned series are kept
(MLflow only adds points, so the same count and extent mean the same points): a chart opened again costs
one index range count. ``since`` reads only what came after
a point already shown (live charts).

Plain SQL on MLflow's schema (window functions: SQLite 3.25+, PostgreSQL); nothing is written.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, text

from kiln.specs.views import MetricHistory

DEFAULT_MAX_POINTS = 1000
MIN_MAX_POINTS = 8  # four a bucket: at least two buckets


@dataclass(frozen=True)
class After:
    """Only points after this one: a greater step, or the same step and a later timestamp (ms)."""

    step: int
    timestamp: int = 2**62  # (left out: after every point of that step)


_WHERE = "run_uuid = :run AND key = :key AND (step > :step OR (step = :step AND timestamp > :timestamp))"
_EXTENT = f"SELECT count(*), min(step), max(step), max(timestamp) FROM metrics WHERE {_WHERE}"
_ALL = f"SELECT step, timestamp, value, is_nan FROM metrics WHERE {_WHERE} ORDER BY step, timestamp"
_BUCKET = "CAST((step - :low) * :buckets / (:high - :low + 1) AS INTEGER)"
# SQLite: a query with one min() or max() takes the other columns from the row that has it (one scan each)
_EXTREMES_SQLITE = " UNION ALL ".join(
    f"SELECT step, timestamp, {pick}(value), is_nan FROM metrics WHERE {_WHERE} AND NOT is_nan GROUP BY {_BUCKET}"
    for pick in ("min", "max")
)
_EXTREMES_SQL = f"""
WITH bucketed AS (
    SELECT step, timestamp, value, is_nan, {_BUCKET} AS bucket FROM metrics WHERE {_WHERE} AND NOT is_nan
), ranked AS (
    SELECT step, timestamp, value, is_nan,
           ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY value, step) AS lowest,
           ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY value DESC, step) AS highest
    FROM bucketed
)
SELECT step, timestamp, value, is_nan FROM ranked WHERE lowest = 1 OR highest = 1
"""
_ENDS = (
    f"SELECT * FROM (SELECT step, timestamp, value, is_nan FROM metrics WHERE {_WHERE} "
    "ORDER BY step {order}, timestamp {order} LIMIT 1) AS one_end"
)
_FIRST_AND_LAST = f"{_ENDS.format(order='ASC')} UNION ALL {_ENDS.format(order='DESC')}"
RUN_KEY_STEP_INDEX = "index_metrics_run_uuid_key_step"  # MLflow's (run_uuid, key, step)
_KEYS = "SELECT key FROM latest_metrics WHERE run_uuid = :run ORDER BY key"


def after_of(after: dict[str, After] | After | None, key: str) -> After | None:
    return after.get(key) if isinstance(after, dict) else after


class MetricSeries:
    """Reads MLflow's ``metrics`` table for one run at a time (``store_uri``: MLflow's SQLAlchemy URI)."""

    def __init__(self, store_uri: str, ready: Callable[[], None] | None = None) -> None:
        self._store_uri = store_uri
        self._ready = ready  # MLflow's server creates a SQLite store: wait for it before the first read
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._table = "metrics"
        self._thinned = _Recent()

    def _connect(self) -> Engine:
        with self._lock:
            if self._engine is None:
                if self._ready is not None:
                    self._ready()
                self._engine = create_engine(self._store_uri, pool_pre_ping=True)
                self._table = _metrics_table(self._engine)
            return self._engine

    def keys(self, run_id: str) -> list[str]:
        with self._connect().connect() as connection:
            return [str(key) for (key,) in connection.execute(text(_KEYS), {"run": run_id})]

    def read(
        self, run_id: str, max_points: int | None = DEFAULT_MAX_POINTS, after: dict[str, After] | After | None = None
    ) -> dict[str, MetricHistory]:
        """Every metric of the run, each at most ``max_points`` long (None: whole), after ``after[key]`` (or
        after ``after`` for every key)."""
        with self._connect().connect() as connection:
            keys = [str(key) for (key,) in connection.execute(text(_KEYS), {"run": run_id})]
            return {key: self._series(connection, run_id, key, max_points, after_of(after, key)) for key in keys}

    def _sql(self, query: str) -> Any:
        return text(query.replace("FROM metrics", f"FROM {self._table}"))

    def _series(
        self, connection: Any, run_id: str, key: str, max_points: int | None, after: After | None
    ) -> MetricHistory:
        start = after or After(step=-(2**62))
        where = {"run": run_id, "key": key, "step": start.step, "timestamp": start.timestamp}
        if max_points is None:
            rows = connection.execute(self._sql(_ALL), where).all()
        else:
            count, low, high, latest = connection.execute(self._sql(_EXTENT), where).one()
            if count <= max_points:
                rows = connection.execute(self._sql(_ALL), where).all()
            else:
                # MLflow only adds points: the same count and extent are the same points, thinned as before
                shape = (run_id, key, max_points, start, count, low, high, latest)
                rows = self._thinned.get(shape)
                if rows is None:
                    rows = self._thin(connection, where, low, high, max_points)
                    self._thinned.put(shape, rows)
        return MetricHistory(
            steps=[int(step) for step, _, _, _ in rows],
            timestamps=[int(timestamp) for _, timestamp, _, _ in rows],
            values=[math.nan if is_nan else float(value) for _, _, value, is_nan in rows],
        )

    def _thin(self, connection: Any, where: dict[str, Any], low: int, high: int, max_points: int) -> list[Any]:
        extremes = _EXTREMES_SQLITE if connection.dialect.name == "sqlite" else _EXTREMES_SQL
        thinning = {**where, "low": low, "high": high, "buckets": max((max_points - 2) // 2, 1)}
        kept = connection.execute(self._sql(extremes), thinning).all()
        kept += connection.execute(self._sql(_FIRST_AND_LAST), where).all()
        return sorted({(int(r[0]), int(r[1])): tuple(r) for r in kept}.values(), key=lambda r: r[:2])


class _Recent:
    """The last few thinned series (a chart opened again, a compare of the same jobs): a small LRU, thread-safe."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[Any, list[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> list[Any] | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: Any, rows: list[Any]) -> None:
        with self._lock:
            self._items[key] = rows
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def _metrics_table(engine: Engine) -> str:
    """``metrics``, on SQLite told to use MLflow's (run_uuid, key, step) index: left to itself SQLite scans its
    primary key's index by ``key`` alone, every run's "loss" at once (PostgreSQL's planner needs no hint)."""
    if engine.dialect.name != "sqlite":
        return "metrics"
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :name"), {"name": RUN_KEY_STEP_INDEX}
        ).first()
    return f"metrics INDEXED BY {RUN_KEY_STEP_INDEX}" if found else "metrics"
