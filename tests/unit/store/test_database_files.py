"""Database files only their owner may read (issue 11): kiln.db and mlflow.db, made 0600 and made so again."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from kiln.store.database import private_sqlite_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_is_made_0600_and_sqlite_keeps_its_companions_so(tmp_path: Path) -> None:
    path = tmp_path / "mlflow" / "mlflow.db"
    private_sqlite_file(f"sqlite:///{path}")
    assert _mode(path) == 0o600
    with sqlite3.connect(path) as connection:  # an empty file is a new database to SQLite
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (x)")
        assert _mode(path.with_name("mlflow.db-wal")) == 0o600
    connection.close()


def test_existing_files_are_made_0600_on_start(tmp_path: Path) -> None:
    path = tmp_path / "kiln.db"
    for name in ("kiln.db", "kiln.db-wal", "kiln.db-shm"):
        (tmp_path / name).write_bytes(b"")
        os.chmod(tmp_path / name, 0o644)
    private_sqlite_file(f"sqlite:///{path}")
    assert [_mode(tmp_path / name) for name in ("kiln.db", "kiln.db-wal", "kiln.db-shm")] == [0o600] * 3


def test_other_databases_are_left_alone(tmp_path: Path) -> None:
    private_sqlite_file("postgresql://kiln@db/kiln")
    private_sqlite_file("sqlite:///:memory:")
    assert list(tmp_path.iterdir()) == []
