"""Assembles one workspace: database, artifact store, MLflow, job runners and engine, services."""

from __future__ import annotations

import logging
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kiln.artifacts.roots import ArtifactRoot
from kiln.artifacts.store import ArtifactStore
from kiln.capabilities import load_capabilities
from kiln.capabilities.services import CapabilityContext, CapabilityServices
from kiln.config import Settings
from kiln.datastores.inputs import RemoteInputs
from kiln.datastores.remote import RemoteData
from kiln.datastores.secrets import KEY_FILE, CredentialBox
from kiln.datastores.service import DatastoreAccess, DatastoreService
from kiln.errors import Unavailable
from kiln.jobs.engine import JobEngine
from kiln.jobs.folders import JobFolders
from kiln.jobs.inputs import JobInputs
from kiln.jobs.preparation import JobPreparation
from kiln.runners.local.compute import LocalCompute
from kiln.runners.local.gpus import local_gpus
from kiln.runners.local.read_only_mounts import ReadOnlyInputs
from kiln.runners.local.runner import LocalRunner
from kiln.runners.local.sandbox import NOT_ISOLATED, JobSandbox
from kiln.runners.ray.runner import RayRunner
from kiln.server.auth import load_or_create_token
from kiln.server.start_steps import START_STEPS_LOGGER
from kiln.services.computes import ComputeService
from kiln.services.credentials import CredentialVerifier
from kiln.services.data import DataInputs, DataService
from kiln.services.deployment_files import DeploymentFiles
from kiln.services.endpoints import EndpointService, key_file
from kiln.services.environments import EnvironmentService, open_environment_service
from kiln.services.jobs import JobService
from kiln.services.lineage import LineageService
from kiln.services.model_inputs import ModelInputs
from kiln.services.models import ModelService
from kiln.services.uploads import UploadedInputs, UploadService
from kiln.services.users import UserService
from kiln.serving.control.controller import EndpointController
from kiln.serving.control.gateway_metrics import GatewayMetrics
from kiln.serving.control.replica_launcher import ReplicaLauncher
from kiln.serving.control.routing import RoutingTable
from kiln.store.computes import ComputeRepository
from kiln.store.data import DataAssetRepository
from kiln.store.database import create_database_engine, migrate, private_sqlite_file, session_factory
from kiln.store.datastores import DatastoreRepository
from kiln.store.endpoints import EndpointRepository
from kiln.store.jobs import JobRepository
from kiln.store.postgres import ENDPOINT_CONTROLLER_LOCK, Leadership, check_connection, connection_error
from kiln.store.users import UserRepository
from kiln.tracking.mlflow_errors import bound_client_retries
from kiln.tracking.mlflow_server import MlflowSupervisor
from kiln.tracking.mlflow_store import prepare_mlflow_store
from kiln.tracking.registry import ModelRegistry
from kiln.tracking.runs import RunTracker
from kiln.transfer.sources import TransferSources

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


def job_sandbox(settings: Settings) -> JobSandbox:
    """The sandbox local jobs run in (``job_sandbox``, ``job_sandbox_uid``)."""
    return JobSandbox(settings.resolved_home, settings.job_sandbox, settings.job_sandbox_uid)


def refuse_unisolated_team(settings: Settings, stores: Stores) -> None:
    """A team server (users exist, or the database is PostgreSQL) does not start when jobs cannot be sandboxed,
    unless ``allow_unisolated_jobs`` says so: a job could read the workspace token and become owner."""
    if settings.allow_unisolated_jobs:
        return
    isolation = job_sandbox(settings).isolation()
    if not isolation.startswith(NOT_ISOLATED):
        return
    team = "the database is PostgreSQL" if stores.shared else ""
    if not team and UserRepository(session_factory(stores.engine)).users():
        team = "this workspace has users"
    if team:
        raise Unavailable(
            f"refusing to start a team server ({team}): jobs would run {isolation}; install bubblewrap, or set "
            "allow_unisolated_jobs (KILN_ALLOW_UNISOLATED_JOBS=true) to run them unisolated anyway"
        )


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


@dataclass
class Workspace:
    settings: Settings
    url: str
    token: str
    store: ArtifactStore
    mlflow: MlflowSupervisor
    tracker: RunTracker
    engine: JobEngine
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
    users: UserService
    computes: ComputeService
    datastores: DatastoreService | None = None
    server_id: str = ""
    controller_leadership: Leadership | None = None
    capabilities: CapabilityServices = field(default_factory=CapabilityServices)
    transfer: TransferSources | None = None  # what export and import read and write

    @classmethod
    def open(cls, settings: Settings, url: str, stores: Stores | None = None) -> Workspace:
        home = settings.resolved_home
        home.mkdir(parents=True, exist_ok=True)
        token = load_or_create_token(settings.token_file)
        stores = stores or open_stores(settings)
        engine = stores.engine
        repository = JobRepository(session_factory(engine))
        store = stores.artifacts
        mlflow = MlflowSupervisor(
            home, stores.mlflow_store_uri, f"{store.root}/mlflow", environment=stores.artifact_root.mlflow_environment()
        )
        steps.info("MLflow tracking server: starting (the longest step)")
        mlflow.start()
        steps.info("MLflow tracking server: ready; starting jobs, endpoints and capabilities")
        bound_client_retries()  # a request MLflow cannot answer fails in seconds, not after minutes of retries
        tracker = RunTracker(mlflow.url)
        uploads = UploadService(store, home / "tmp")
        registry = ModelRegistry(mlflow.url)
        models = ModelService(registry, tracker, store, uploads, repository)
        read_only_inputs = ReadOnlyInputs(settings.jobs_dir)
        inputs = JobInputs([UploadedInputs(uploads, store), ModelInputs(models)])
        datastores = DatastoreService(
            DatastoreRepository(session_factory(engine)), CredentialBox(home / KEY_FILE),
            DatastoreAccess(home, settings.local_datastore_folders, settings.remote_private_host_ports),
        )  # fmt: skip
        remote = RemoteData(datastores, home / "cache" / "remote")
        inputs.add_resolver(RemoteInputs(remote, read_only_inputs))
        data = DataService(DataAssetRepository(session_factory(engine)), uploads, store, remote)
        inputs.add_resolver(DataInputs(data, store, read_only_inputs, home / "cache" / "data", remote))
        environments = open_environment_service(home, session_factory(engine))
        user_repository = UserRepository(session_factory(engine))
        users = UserService(user_repository, CredentialVerifier(user_repository, token))
        local = LocalRunner(
            environments, LocalCompute(local_gpus(settings.gpus)), read_only_inputs,
            slots=settings.resolved_local_concurrency, cancel_grace=settings.job_cancel_grace_seconds,
            sandbox=job_sandbox(settings), shared=stores.shared, log_limit=settings.job_log_limit_bytes,
        )  # fmt: skip

        computes = ComputeService(
            ComputeRepository(session_factory(engine)), repository, local, lambda cluster: RayRunner(cluster, tracker),
            unknown_azureml=settings.resolved_unknown_azureml_compute,
        )  # fmt: skip
        folders = JobFolders(settings.jobs_dir)
        preparation = JobPreparation(uploads, store, inputs, url, job_tokens=users)
        job_engine = JobEngine(
            repository, computes, preparation, store, tracker, folders, server_id=stores.server_id,
            shared=stores.shared, log_limit=settings.job_log_limit_bytes,
        )  # fmt: skip
        job_engine.completion_hooks.append(lambda job: models.register_job_outputs(job.row, job.spec.outputs))
        jobs = JobService(repository, uploads, inputs, environments, store, tracker, folders, url, job_engine, computes)
        job_engine.start()
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
        leadership = None
        if stores.shared:  # one controller for all servers on the database (the one holding the lock)
            leadership = Leadership(
                engine, ENDPOINT_CONTROLLER_LOCK, "endpoint controller", controller.start,
                on_lost=lambda: controller.stop(stop_replicas=False),  # the new holder re-adopts them
            )  # fmt: skip
            leadership.start()
            if not leadership.leader.is_set():
                controller.follow()  # the others route to its replicas until one of them takes over
        else:
            controller.start()
        capabilities = CapabilityServices.open(
            load_capabilities(settings.plugin_modules),
            CapabilityContext(
                settings=settings, url=url, folder=home / "capabilities", artifacts=store, tracker=tracker, jobs=jobs,
                data=data, models=models, environments=environments, endpoints=endpoints,
            ),
        )  # fmt: skip
        return cls(
            settings=settings, url=url, token=token, store=store, mlflow=mlflow, tracker=tracker,
            engine=job_engine, jobs=jobs, uploads=uploads, models=models,
            lineage=LineageService(models, repository, endpoints), data=data, environments=environments,
            endpoints=endpoints, endpoint_controller=controller, endpoint_routes=routes, gateway_metrics=metrics,
            users=users, computes=computes, datastores=datastores, server_id=stores.server_id, controller_leadership=leadership,
            capabilities=capabilities,
            transfer=TransferSources(
                settings, store, mlflow.url, tracker, repository, data.assets, environments.environments, environments,
                endpoints,
            ),
        )  # fmt: skip

    def close(self) -> None:
        self.capabilities.close()
        if self.controller_leadership is not None:
            self.controller_leadership.stop_waiting()
        self.endpoint_controller.stop()
        if self.controller_leadership is not None:
            self.controller_leadership.release()
        self.engine.stop()
        self.mlflow.stop()
