"""A pre-migrated workspace home: the two SQLite databases a fresh ``kiln server`` start creates, made once.

A fresh home costs every server start its migrations: kiln's Alembic history
(``kiln.store.database.migrate``) and MLflow's (MLflow's server runs ``_initialize_tables``
on an empty SQLite store before it answers). Both are the same for every home, so the test
session runs them once, into a template folder, and ``WorkspaceServer.start`` copies the two
files into a new home. Nothing else is copied: the token, the server id, the artifact folder
and MLflow's ``Default`` experiment (whose artifact location names the home) are made by the
server itself, as on a fresh start.

``test_workspace_home.py`` starts one server from an empty home and one from the template and
checks that their databases hold the same schema and rows, so the copy stays exactly what a
fresh start creates when kiln's or MLflow's migrations change.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

KILN_DATABASE = Path("kiln.db")  # settings.resolved_database_url's default, relative to the home
MLFLOW_DATABASE = Path("mlflow") / "mlflow.db"  # settings.resolved_mlflow_store_uri's default

_lock = threading.Lock()
_template: Path | None = None


def template_home() -> Path:
    """The folder holding the migrated databases (made on first use, once per test process)."""
    global _template
    with _lock:
        if _template is None:
            folder = Path(tempfile.mkdtemp(prefix="kiln-home-template-"))
            atexit.register(shutil.rmtree, folder, True)
            _build(folder)
            _template = folder
        return _template


def _build(folder: Path) -> None:
    from mlflow.store.db import utils as mlflow_db

    from kiln.store.database import create_database_engine, migrate

    (folder / MLFLOW_DATABASE).parent.mkdir(parents=True)
    engine = create_database_engine(f"sqlite:///{folder / KILN_DATABASE}")
    try:
        migrate(engine)
    finally:
        engine.dispose()
    mlflow_engine = mlflow_db.create_sqlalchemy_engine_with_retry(f"sqlite:///{folder / MLFLOW_DATABASE}")
    try:
        mlflow_db._initialize_tables(mlflow_engine)  # what MLflow's server does with an empty SQLite store
    finally:
        mlflow_engine.dispose()
    for database in (KILN_DATABASE, MLFLOW_DATABASE):
        _checkpoint(folder / database)


def _checkpoint(path: Path) -> None:
    """Fold a write-ahead log into the file, so that the one file is the whole database."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def prepare_home(home: Path) -> bool:
    """Copy the migrated databases into ``home`` unless it has a kiln database already; True if copied."""
    if (home / KILN_DATABASE).exists():
        return False
    source = template_home()
    for database in (KILN_DATABASE, MLFLOW_DATABASE):
        (home / database).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / database, home / database)
    return True


def database_dump(path: Path) -> list[str]:
    """A database's schema and rows as SQL text lines, for comparing two databases."""
    with sqlite3.connect(path) as connection:
        lines = list(connection.iterdump())
    connection.close()
    return lines
