"""Metric values written in bulk into MLflow's tables, with what ``SqlAlchemyStore._log_metrics`` does.

MLflow's store builds one ORM object per value (and its session's unit of work tracks each): about
a tenth of a millisecond per metric, so a 1,000-metric ``log_batch`` cannot pass a few thousand
metrics a second. This writes the same rows with one multi-row INSERT, on MLflow's own table
definitions (``mlflow.store.tracking.dbmodels.models``), in one transaction of MLflow's session
maker, keeping every rule of ``_log_metrics`` (a unit test compares the tables it leaves with those
MLflow's store leaves for the same calls):

- the run must exist and be active (MLflow's ``_get_run`` and ``_check_run_is_active``, same errors);
- NaN is stored as 0 with ``is_nan``, ±inf as ±1.7976931348623157e308 (MLflow's ``sanitize_metric_value``);
- a value already stored (same key, timestamp, step, value) is not stored twice, nor twice in one call;
- ``latest_metrics`` keeps, per key, the value with the greatest (step, timestamp, value); on a tie
  the one stored first, read under ``SELECT … FOR UPDATE`` as MLflow does.

Only SQLite and PostgreSQL (``INSERT … ON CONFLICT DO NOTHING``); other databases use MLflow's path.
"""

from __future__ import annotations

from typing import Any

DIALECTS = ("sqlite", "postgresql")
_ROWS_PER_INSERT = 500  # SQLite allows 32,766 bound values; six per row


def supports(store: Any) -> bool:
    return bool(store.engine.dialect.name in DIALECTS)


def log_metrics(store: Any, run_id: str, metrics: list[Any]) -> None:
    """Store ``metrics`` (validated ``mlflow.entities.Metric`` without a model) in run ``run_id``."""
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric
    from sqlalchemy import select, tuple_

    rows: dict[tuple[Any, ...], dict[str, Any]] = {}  # by MLflow's identity of a stored value, first kept
    for metric in metrics:
        is_nan, value = store.sanitize_metric_value(metric.value)
        row = {
            "run_uuid": run_id,
            "key": metric.key,
            "value": value,
            "timestamp": metric.timestamp,
            "step": metric.step,
            "is_nan": is_nan,
        }
        rows.setdefault((metric.key, metric.timestamp, metric.step, value, is_nan), row)
    insert = _insert_ignoring_duplicates(store.engine.dialect.name)
    metrics_table, latest_table = SqlMetric.__table__, SqlLatestMetric.__table__
    with store.ManagedSessionMaker(read_only=False) as session:
        run = store._get_run(run_uuid=run_id, session=session)
        store._check_run_is_active(run)
        values = list(rows.values())
        for start in range(0, len(values), _ROWS_PER_INSERT):
            session.execute(insert(metrics_table).on_conflict_do_nothing(), values[start : start + _ROWS_PER_INSERT])
        keys = sorted({row["key"] for row in values})
        stored: dict[str, tuple[Any, ...]] = {}
        for start in range(0, len(keys), 500):
            found = session.execute(
                select(latest_table.c.key, latest_table.c.step, latest_table.c.timestamp, latest_table.c.value)
                .where(latest_table.c.run_uuid == run_id, latest_table.c.key.in_(keys[start : start + 500]))
                .order_by(latest_table.c.run_uuid, latest_table.c.key)
                .with_for_update()
            )
            stored.update({key: (step, timestamp, value) for key, step, timestamp, value in found})
        latest: dict[str, dict[str, Any]] = {}
        for row in values:  # in order, replacing only a strictly greater one, as MLflow compares
            current = latest.get(row["key"])
            order = (row["step"], row["timestamp"], row["value"])
            if current is None:
                if row["key"] not in stored or order > stored[row["key"]]:
                    latest[row["key"]] = row
            elif order > (current["step"], current["timestamp"], current["value"]):
                latest[row["key"]] = row
        new = [row for key, row in latest.items() if key not in stored]
        if new:
            session.execute(latest_table.insert(), new)
        for key, row in latest.items():
            if key in stored:
                session.execute(
                    latest_table.update()
                    .where(tuple_(latest_table.c.run_uuid, latest_table.c.key) == (run_id, key))
                    .values(value=row["value"], timestamp=row["timestamp"], step=row["step"], is_nan=row["is_nan"])
                )


def _insert_ignoring_duplicates(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert
