"""Engine creation and migrations (run once at server start)."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kiln.store.postgres import MIGRATIONS_LOCK, normalize_url, transaction_lock

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_database_engine(url: str) -> Engine:
    """An engine for kiln's tables; ``postgres://`` and ``postgresql://`` URLs use psycopg 3."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_sqlite_file(url: str) -> None:
    """A SQLite database only its owner may read (0600): made so before SQLite creates it (its -wal and -shm
    take the database file's mode), and made so again if it was not. Other URLs are left alone."""
    url = normalize_url(url)
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return
    path = Path(url[len(prefix) :].split("?", 1)[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # SQLite takes an empty file as a new database
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists() and companion.stat().st_mode & 0o777 != 0o600:
            companion.chmod(0o600)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision.

    On PostgreSQL the upgrade runs in one transaction under an advisory lock, so that servers
    starting together on one database migrate it once: the others wait, then find it done.
    A schema already at the newest revisions is left alone without importing Alembic (a start's
    common case: a tenth of a second saved on every start).
    """
    if at_heads(engine):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        transaction_lock(connection, MIGRATIONS_LOCK)
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")  # resources add their own branches of revisions


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def migration_heads() -> frozenset[str]:
    """The newest revisions of kiln's migrations, read from their files' ``revision`` and ``down_revision``
    lines (Alembic's ``ScriptDirectory.get_heads()`` says the same, a unit test checks: without its import)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        fields = dict(_REVISION_LINE.findall(path.read_text()))
        revisions.add(ast.literal_eval(fields["revision"]))
        down = ast.literal_eval(fields.get("down_revision", "None"))
        parents.update(down if isinstance(down, tuple | list) else [down] if down else [])
    return frozenset(revisions - parents)


def at_heads(engine: Engine) -> bool:
    """Whether the database's schema is at the newest revisions (False if it has none, or cannot say)."""
    try:
        with engine.connect() as connection:
            current = {str(row[0]) for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:
        return False  # a new database: no alembic_version table yet
    return current == migration_heads()


def insert_unique(sessions: sessionmaker[Session], row: object) -> bool:
    """Insert ``row``; False when a unique key says it exists already (another writer may have won)."""
    try:
        with sessions.begin() as session:
            session.add(row)
    except IntegrityError:
        return False
    return True


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
