"""The first steps of a server's start: its databases opened and migrated, MLflow's child launched.

Kept apart from :mod:`kiln.server.wiring` (which imports every service) and light to import, so that
``kiln server run`` launches MLflow's child, the longest step of a start, before it imports the rest:
MLflow starts on one core while the workspace server readies its own parts on the other.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kiln.artifacts.roots import ArtifactRoot
from kiln.artifacts.store import MLFLOW_ARTIFACTS_KEY, ArtifactStore
from kiln.config import Settings
from kiln.errors import Unavailable
from kiln.runners.local.sandbox import NOT_ISOLATED, JobSandbox
from kiln.server.start_steps import START_STEPS_LOGGER
from kiln.store.database import create_database_engine, migrate, private_sqlite_file, session_factory
from kiln.store.postgres import check_connection, connection_error
from kiln.store.users import UserRepository
from kiln.tracking.mlflow_server import MlflowSupervisor
from kiln.tracking.mlflow_store import prepare_mlflow_store

log = logging.getLogger(__name__)
steps = logging.getLogger(START_STEPS_LOGGER)  # what `kiln` shows while it waits for a server to start


@dataclass
class Stores:
    """The databases, ready: kiln's tables migrated, MLflow's store prepared; the artifact store checked."""

    engine: Engine
    mlflow_store_uri: str
    server_id: str  # this server (this KILN_HOME) among those sharing the database
    artifact_root: ArtifactRoot
    artifacts: ArtifactStore

    @property
    def shared(self) -> bool:
        """Other servers may use the same database (PostgreSQL; SQLite stays one server's)."""
        return self.engine.dialect.name == "postgresql"


def open_stores(settings: Settings) -> Stores:
    """Connect, migrate (once, under a lock, when servers start together) and prepare MLflow's store.

    A database that cannot be reached or used is a KilnError that shows the URL without its password.
    """
    home = settings.resolved_home
    url = settings.resolved_database_url
    private_sqlite_file(url)  # 0600: nothing else on the machine reads tokens' hashes or runs
    try:
        engine = create_database_engine(url)
    except (SQLAlchemyError, ImportError) as exc:
        raise connection_error(url, exc) from None
    check_connection(engine, url)
    steps.info("database: connected, migrating")
    migrate(engine)
    steps.info("tracking store: preparing")
    mlflow_uri = prepare_mlflow_store(settings, engine)
    private_sqlite_file(mlflow_uri)  # MLflow's own SQLite file (none beside PostgreSQL), 0600 before MLflow opens it
    artifact_root = ArtifactRoot.from_settings(settings)  # a bucket that cannot be used is a KilnError too
    artifacts = artifact_root.open()
    return Stores(engine, mlflow_uri, load_or_create_server_id(home), artifact_root, artifacts)


def launch_mlflow(settings: Settings, stores: Stores) -> MlflowSupervisor:
    """MLflow's tracking server, starting in the background: what needs it waits for it, nothing else does."""
    mlflow = MlflowSupervisor(
        settings.resolved_home, stores.mlflow_store_uri, f"{stores.artifacts.root}/{MLFLOW_ARTIFACTS_KEY}",
        environment=stores.artifact_root.mlflow_environment(), announce=steps.info,
    )  # fmt: skip
    steps.info("MLflow tracking server: starting (in the background)")
    mlflow.launch()
    return mlflow


def job_sandbox(settings: Settings) -> JobSandbox:
    """The sandbox local jobs run in (``job_sandbox``, ``job_sandbox_uid``)."""
    return JobSandbox(settings.resolved_home, settings.job_sandbox, settings.job_sandbox_uid)


def refuse_unisolated_team(settings: Settings, stores: Stores) -> None:
    """A team server (users exist, or the database is PostgreSQL) does not start when jobs cannot be sandboxed,
    unless ``allow_unisolated_jobs`` says so: a job could read the workspace token and become owner.

    Only a team server tries the sandbox here; a personal one tries it in the background
    (:func:`try_sandbox_soon`), off the start's path, before its first job needs the answer."""
    if settings.allow_unisolated_jobs:
        return
    team = "the database is PostgreSQL" if stores.shared else ""
    if not team and UserRepository(session_factory(stores.engine)).users():
        team = "this workspace has users"
    if not team:
        return
    isolation = job_sandbox(settings).isolation()
    if isolation.startswith(NOT_ISOLATED):
        raise Unavailable(
            f"refusing to start a team server ({team}): jobs would run {isolation}; install bubblewrap, or set "
            "allow_unisolated_jobs (KILN_ALLOW_UNISOLATED_JOBS=true) to run them unisolated anyway"
        )


def try_sandbox_soon(sandbox: JobSandbox) -> None:
    """Try the sandbox tool in the background (its answer is kept for the process), so the first job
    does not wait for the try."""
    threading.Thread(target=sandbox.availability, name="sandbox-try", daemon=True).start()


def load_or_create_server_id(home: Path) -> str:
    """This home's server id (kept in ``KILN_HOME/server_id``): it names the server that runs a job."""
    path = home / "server_id"
    try:
        existing = path.read_text().strip()
        if existing:
            return existing
    except OSError:
        pass
    server_id = f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:8]}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(server_id + "\n")
    tmp.replace(path)
    return server_id
