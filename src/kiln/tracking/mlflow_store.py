"""MLflow's backend store: where it is, and its migrations run once before MLflow's server starts.

- SQLite (the default with a SQLite workspace): ``KILN_HOME/mlflow/mlflow.db``; MLflow's server
  creates it itself, as it always has (one server per home, so nothing races).
- PostgreSQL: with a PostgreSQL workspace MLflow gets a sibling database on the same server,
  ``<database>_mlflow`` (created if missing), since MLflow's Alembic history would collide
  with kiln's ``alembic_version`` table in one database; ``mlflow_backend_store_uri`` names
  another. MLflow's migrations race when several of its servers start at once on a fresh
  database, so kiln runs them here, once, under an advisory lock, before starting MLflow's server
  (which then finds its schema current and migrates nothing).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from kiln.config import Settings
from kiln.errors import Unavailable
from kiln.store.postgres import (
    MLFLOW_MIGRATIONS_LOCK,
    check_connection,
    display_url,
    ensure_database,
    is_postgres,
    normalize_url,
    session_lock,
    sibling_database_url,
)

log = logging.getLogger(__name__)

SETTING = "mlflow_backend_store_uri"


def mlflow_store_uri(settings: Settings) -> str:
    """The SQLAlchemy URI of MLflow's store for these settings (psycopg 3 for PostgreSQL)."""
    if settings.mlflow_backend_store_uri:
        return normalize_url(settings.mlflow_backend_store_uri, SETTING)
    database = normalize_url(settings.resolved_database_url)
    if is_postgres(database):
        return sibling_database_url(database)
    return settings.resolved_mlflow_store_uri


def prepare_mlflow_store(settings: Settings, kiln_engine: Engine) -> str:
    """Make MLflow's store ready for its server; returns its URI. Safe when servers start together."""
    uri = mlflow_store_uri(settings)
    if not is_postgres(uri):
        return uri
    default = not settings.mlflow_backend_store_uri
    hint = f"{SETTING} (KILN_MLFLOW_BACKEND_STORE_URI)"
    own_engine = None
    if kiln_engine.dialect.name == "postgresql":
        lock_engine = kiln_engine  # every server of this workspace shares it, so the lock is theirs
    else:
        lock_engine = own_engine = create_engine(uri, pool_pre_ping=True)
    try:
        with session_lock(lock_engine, MLFLOW_MIGRATIONS_LOCK):
            if default:
                ensure_database(kiln_engine, uri, hint)
            else:
                probe = create_engine(uri)
                try:
                    check_connection(probe, uri, SETTING)
                finally:
                    probe.dispose()
            _migrate(uri)
    finally:
        if own_engine is not None:
            own_engine.dispose()
    return uri


def _migrate(uri: str) -> None:
    """Create MLflow's tables in an empty database, or bring an older schema up to date (in this process:
    the server imports MLflow anyway, and a child would pay for that import again)."""
    from mlflow.store.db import utils as mlflow_db

    utils: Any = mlflow_db  # untyped
    try:
        engine = utils.create_sqlalchemy_engine_with_retry(uri)
        try:
            if not utils._all_tables_exist(engine):
                log.info("creating MLflow's tables in %s", display_url(uri))
                utils._initialize_tables(engine)
            elif utils._get_schema_version(engine) != utils._get_latest_schema_revision():
                log.info("upgrading MLflow's tables in %s", display_url(uri))
                utils._upgrade_db(engine)
        finally:
            engine.dispose()
    except Exception as exc:
        message = str(exc)
        password = make_url(uri).password
        if password:
            message = message.replace(str(password), "***")
        raise Unavailable(f"could not prepare MLflow's database {display_url(uri)}: {message}") from None
