"""Assembles one workspace: database, artifact store, MLflow, runner, scheduler, services."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kiln.artifacts.store import ArtifactStore
from kiln.config import Settings
from kiln.runners.gpus import local_gpus
from kiln.runners.local import LocalRunner
from kiln.runners.local_compute import LocalCompute
from kiln.server.auth import load_or_create_token
from kiln.services.data import DataInputs, DataService
from kiln.services.deployment_files import DeploymentFiles
from kiln.services.endpoints import EndpointService, key_file
from kiln.services.environments import EnvironmentService, open_environment_service
from kiln.services.job_inputs import JobInputs, UploadedInputs
from kiln.services.jobs import JobService
from kiln.services.lineage import LineageService
from kiln.services.model_inputs import ModelInputs
from kiln.services.models import ModelService
from kiln.services.scheduler import JobScheduler
from kiln.services.uploads import UploadService
from kiln.serving.controller import EndpointController
from kiln.serving.gateway_metrics import GatewayMetrics
from kiln.serving.replica_launcher import ReplicaLauncher
from kiln.serving.routing import RoutingTable
from kiln.store.data import DataAssetRepository
from kiln.store.database import create_database_engine, migrate, session_factory
from kiln.store.endpoints import EndpointRepository
from kiln.store.jobs import JobRepository
from kiln.tracking.mlflow_server import MlflowSupervisor
from kiln.tracking.registry import ModelRegistry
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
    models: ModelService
    lineage: LineageService
    data: DataService
    environments: EnvironmentService
    endpoints: EndpointService
    endpoint_controller: EndpointController
    endpoint_routes: RoutingTable
    gateway_metrics: GatewayMetrics

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
        registry = ModelRegistry(mlflow.url)
        models = ModelService(registry, tracker, store, uploads, repository)
        inputs = JobInputs([UploadedInputs(uploads, store), ModelInputs(models)])
        data = DataService(DataAssetRepository(session_factory(engine)), uploads, store)
        inputs.add_resolver(DataInputs(data, store, runner.read_only_inputs, home / "cache" / "data"))
        environments = open_environment_service(home, session_factory(engine))
        compute = LocalCompute(local_gpus(settings.gpus))
        scheduler = JobScheduler(
            repository, runner, uploads, store, tracker, inputs, environments, compute=compute,
            concurrency=settings.resolved_local_concurrency, workspace_url=url, token=token,
            cancel_grace=settings.job_cancel_grace_seconds,
        )  # fmt: skip
        jobs = JobService(
            repository, uploads, inputs, environments, store, tracker, runner, url, scheduler.wake, compute
        )
        scheduler.completion_hooks.append(models.register_job_outputs)
        scheduler.start()
        environments.resume()
        routes, metrics = RoutingTable(), GatewayMetrics()
        endpoint_repository = EndpointRepository(session_factory(engine))
        controller = EndpointController(
            endpoint_repository, ReplicaLauncher(home / "endpoints" / "replicas", environments), routes
        )
        endpoints = EndpointService(
            endpoint_repository, controller, DeploymentFiles(models, uploads, store, home / "endpoints" / "files", environments),
            metrics, load_or_create_token(key_file(home)), url,
        )  # fmt: skip
        controller.start()
        return cls(
            settings=settings, url=url, token=token, store=store, mlflow=mlflow, tracker=tracker,
            scheduler=scheduler, jobs=jobs, uploads=uploads, models=models,
            lineage=LineageService(models, repository, endpoints), data=data, environments=environments,
            endpoints=endpoints, endpoint_controller=controller, endpoint_routes=routes, gateway_metrics=metrics,
        )  # fmt: skip

    def close(self) -> None:
        self.endpoint_controller.stop()
        self.scheduler.stop()
        self.mlflow.stop()
