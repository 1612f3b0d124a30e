"""MLflow's SQL store, opened in the workspace server: where ``/mlflow``'s fast writes (``kiln.tracking.fast_writes``)
and a job's run on its way to its first line (``RunTracker``: created, scheduled, running) are written.

Through MLflow's client each of those is a request to MLflow's child (its Flask stack on top of the write), and
``MlflowClient.update_run`` is two (it reads the run first): a job's submission and start made five, about 0.1 s of
the ~0.25 s from a warm submission to the job's first line on a 2-core machine (issue 13), and the child's CPU
competed with the job's own start. Here the same calls of MLflow's ``SqlAlchemyStore`` that MLflow's handlers
make, on the same database as the child.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
# runs' artifacts served by MLflow (kept in the artifact store's MLFLOW_ARTIFACTS_KEY folder)
DEFAULT_ARTIFACT_ROOT = "mlflow-artifacts:/"


def is_sql_store(store_uri: str) -> bool:
    """MLflow's SQL stores only (kiln always gives MLflow one; a file store is reached through the child)."""
    return store_uri.split(":", 1)[0].split("+", 1)[0] in SQL_SCHEMES


def open_sql_store(store_uri: str, artifact_root: str = DEFAULT_ARTIFACT_ROOT) -> Any:
    """MLflow's ``SqlAlchemyStore`` on ``store_uri``; SQLite with a write-ahead log (:func:`_write_ahead_log`)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(store_uri, artifact_root)
    if store.engine.dialect.name == "sqlite":
        from sqlalchemy import event

        event.listen(store.engine, "connect", _write_ahead_log)
        store.engine.dispose()  # connections opened before the listener get it too
    return store


class LazyStore:
    """The store, opened on first use, after ``ready()`` (MLflow's child has made and migrated its database)."""

    def __init__(self, store_uri: str, ready: Callable[[], None] | None = None) -> None:
        self._store_uri = store_uri
        self._ready = ready
        self._store: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        if self._ready is not None:
            self._ready()
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_sql_store(self._store_uri)
        return self._store


def create_run(store: Any, experiment_id: str, run_name: str | None, tags: dict[str, str], status: str) -> str:
    """``MlflowClient.create_run`` then ``update_run(status=…, name=…)`` as MLflow's client and handlers make them
    (the user from the ``mlflow.user`` tag, the start time now), in two store calls; the run's id. Without a name,
    the run is named by its id."""
    from mlflow.entities import RunStatus, RunTag
    from mlflow.utils.time import get_current_time_millis

    run = store.create_run(
        experiment_id=experiment_id,
        user_id=tags.get("mlflow.user", "unknown"),
        start_time=get_current_time_millis(),
        tags=[RunTag(key, value) for key, value in tags.items()],
        run_name=run_name,
    )
    run_id = str(run.info.run_id)
    store.update_run_info(run_id, RunStatus.from_string(status), run.info.end_time, None if run_name else run_id)
    return run_id


def update_status(store: Any, run_id: str, status: str) -> None:
    """``MlflowClient.update_run(run_id, status=…)``: the run read, then its status set (its end time kept)."""
    from mlflow.entities import RunStatus

    run = store.get_run(run_id)
    store.update_run_info(run_id, RunStatus.from_string(status), run.info.end_time, None)


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """SQLite as kiln keeps its own database (``kiln.store.database``): a write-ahead log, synced at
    checkpoints rather than at every commit (a crash of any process loses nothing; a power cut may
    lose the last commits). MLflow's default rollback journal syncs three times per commit: the
    time of a ``log_metric`` call. The log mode is the file's, so MLflow's child writes through it too."""
    import sqlite3

    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:  # the child was writing at that moment: a later connection switches it
        log.debug("MLflow's SQLite store stays in its journal mode for now", exc_info=True)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
