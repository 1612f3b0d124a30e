"""Assembles one workspace: database, artifact store, MLflow, runner, scheduler, services."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kiln.artifacts.store import ArtifactStore
from kiln.config import Settings
from kiln.runners.local import LocalRunner
from kiln.server.auth import load_or_create_token
from kiln.services.job_environment import ServerInterpreter
from kiln.services.job_inputs import JobInputs, UploadedInputs
from kiln.services.jobs import JobService
from kiln.services.scheduler import JobScheduler
from kiln.services.uploads import UploadService
from kiln.store.database import create_database_engine, migrate, session_factory
from kiln.store.jobs import JobRepository
from kiln.tracking.mlflow_server import MlflowSupervisor
from kiln.tracking.runs import RunTracker

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    settings: Settings
    url: str
    token: str
    store: ArtifactStore
    mlflow: MlflowSupervisor
    tracker: RunTracker
    scheduler: JobScheduler
    jobs: JobService
    uploads: UploadService

    @classmethod
    def open(cls, settings: Settings, url: str) -> Workspace:
        home = settings.resolved_home
        home.mkdir(parents=True, exist_ok=True)
        token = load_or_create_token(settings.token_file)
        engine = create_database_engine(settings.resolved_database_url)
        migrate(engine)
        repository = JobRepository(session_factory(engine))
        store = ArtifactStore(settings.resolved_artifact_root)
        mlflow = MlflowSupervisor(home, settings.resolved_mlflow_store_uri, f"{store.root}/mlflow")
        mlflow.start()
        tracker = RunTracker(mlflow.url)
        runner = LocalRunner(settings.jobs_dir)
        uploads = UploadService(store, home / "tmp")
        inputs = JobInputs([UploadedInputs(uploads, store)])
        environments = ServerInterpreter()
        scheduler = JobScheduler(
            repository, runner, uploads, store, tracker, inputs, environments,
            concurrency=settings.resolved_local_concurrency, workspace_url=url, token=token,
            cancel_grace=settings.job_cancel_grace_seconds,
        )  # fmt: skip
        jobs = JobService(repository, uploads, inputs, environments, store, tracker, runner, url, scheduler.wake)
        scheduler.start()
        return cls(settings, url, token, store, mlflow, tracker, scheduler, jobs, uploads)

    def close(self) -> None:
        self.scheduler.stop()
        self.mlflow.stop()
