"""Assembles one workspace: database, artifact store, MLflow, job runners and engine, services."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kiln.artifacts.signed_urls import SignedUrls
from kiln.artifacts.store import ArtifactStore
from kiln.capabilities import load_capabilities
from kiln.capabilities.services import CapabilityContext, CapabilityServices
from kiln.config import Settings
from kiln.datastores.inputs import RemoteInputs
from kiln.datastores.remote import RemoteData
from kiln.datastores.secrets import KEY_FILE, CredentialBox
from kiln.datastores.service import DatastoreAccess, DatastoreService
from kiln.environments.overlay import OVERLAY_SPARES
from kiln.jobs.engine import JobEngine
from kiln.jobs.folders import JobFolders
from kiln.jobs.inputs import JobInputs
from kiln.jobs.preparation import JobPreparation
from kiln.runners.local.compute import LocalCompute
from kiln.runners.local.gpus import local_gpus
from kiln.runners.local.read_only_mounts import ReadOnlyInputs
from kiln.runners.local.runner import LocalRunner
from kiln.runners.ray.runner import RayRunner
from kiln.server.auth import load_or_create_token
from kiln.server.start_steps import START_STEPS_LOGGER
from kiln.server.stores import Stores, job_sandbox, launch_mlflow, open_stores, try_sandbox_soon
from kiln.services.audit import AuditLog
from kiln.services.browser_sessions import BrowserSessions
from kiln.services.computes import ComputeService
from kiln.services.credentials import CredentialVerifier
from kiln.services.data import DataInputs, DataService
from kiln.services.deployment_files import DeploymentFiles
from kiln.services.endpoints import EndpointService, key_file
from kiln.services.environments import EnvironmentService, open_environment_service
from kiln.services.jobs import JobService
from kiln.services.lineage import LineageService
from kiln.services.model_inputs import ModelInputs
from kiln.services.model_scoring import ModelScoring
from kiln.services.models import ModelService
from kiln.services.uploads import UploadedInputs, UploadService
from kiln.services.users import UserService
from kiln.serving.control.controller import EndpointController
from kiln.serving.control.gateway_metrics import GatewayMetrics
from kiln.serving.control.replica_launcher import ReplicaLauncher
from kiln.serving.control.routing import RoutingTable
from kiln.store.audit import AuditRepository
from kiln.store.computes import ComputeRepository
from kiln.store.data import DataAssetRepository
from kiln.store.database import session_factory
from kiln.store.datastores import DatastoreRepository
from kiln.store.endpoints import EndpointRepository
from kiln.store.jobs import JobRepository
from kiln.store.postgres import ENDPOINT_CONTROLLER_LOCK, Leadership
from kiln.store.users import UserRepository
from kiln.tracking.metric_series import MetricSeries
from kiln.tracking.mlflow_errors import bound_client_retries
from kiln.tracking.mlflow_server import MlflowSupervisor
from kiln.tracking.registry import ModelRegistry
from kiln.tracking.runs import RunTracker
from kiln.transfer.sources import TransferSources

log = logging.getLogger(__name__)
steps = logging.getLogger(START_STEPS_LOGGER)  # what `kiln` shows while it waits for a server to start


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
    browser_sessions: BrowserSessions
    computes: ComputeService
    signed_urls: SignedUrls  # read URLs of stored files (a Ray job's input), served by kiln.server.signed_files
    audit: AuditLog  # every change made through the REST API (kiln.server.audit)
    datastores: DatastoreService | None = None
    server_id: str = ""
    controller_leadership: Leadership | None = None
    capabilities: CapabilityServices = field(default_factory=CapabilityServices)
    transfer: TransferSources | None = None  # what export and import read and write

    @classmethod
    def open(
        cls, settings: Settings, url: str, stores: Stores | None = None, mlflow: MlflowSupervisor | None = None
    ) -> Workspace:
        """Every part of the workspace, ready but MLflow, which starts in the background (``mlflow``, if
        already launched: ``kiln.server.stores.launch_mlflow``); what needs MLflow waits for it."""
        home = settings.resolved_home
        home.mkdir(parents=True, exist_ok=True)
        token = load_or_create_token(settings.token_file)
        stores = stores or open_stores(settings)
        mlflow = mlflow or launch_mlflow(settings, stores)
        steps.info("starting jobs, endpoints and capabilities")
        engine = stores.engine
        repository = JobRepository(session_factory(engine))
        store = stores.artifacts
        bound_client_retries()  # a request MLflow cannot answer fails in seconds, not after minutes of retries
        series = MetricSeries(stores.mlflow_store_uri, ready=mlflow.wait_ready)
        tracker = RunTracker(mlflow.url, ready=mlflow.wait_ready, series=series, store_uri=stores.mlflow_store_uri)
        uploads = UploadService(store, home / "tmp")
        registry = ModelRegistry(mlflow.url, ready=mlflow.wait_ready)
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
        environments = open_environment_service(home, session_factory(engine), settings.jobs_dir / OVERLAY_SPARES)
        user_repository = UserRepository(session_factory(engine))
        verifier = CredentialVerifier(user_repository)
        users = UserService(user_repository, verifier)
        browser_sessions = BrowserSessions(user_repository, verifier, token)
        sandbox = job_sandbox(settings)
        try_sandbox_soon(sandbox)
        models.scoring = ModelScoring(data, store, sandbox, home / "tmp" / "scoring")
        local = LocalRunner(
            environments, LocalCompute(local_gpus(settings.gpus)), read_only_inputs,
            slots=settings.resolved_local_concurrency, cancel_grace=settings.job_cancel_grace_seconds,
            sandbox=sandbox, shared=stores.shared, log_limit=settings.job_log_limit_bytes,
        )  # fmt: skip

        computes = ComputeService(
            ComputeRepository(session_factory(engine)), repository, local, lambda cluster: RayRunner(cluster, tracker),
            unknown_azureml=settings.resolved_unknown_azureml_compute,
        )  # fmt: skip
        folders = JobFolders(settings.jobs_dir)
        signed_urls = SignedUrls(store, token, url)
        preparation = JobPreparation(uploads, store, inputs, url, job_tokens=users, signed_urls=signed_urls)
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
            users=users, browser_sessions=browser_sessions, computes=computes, signed_urls=signed_urls,
            audit=AuditLog(AuditRepository(session_factory(engine))), datastores=datastores, server_id=stores.server_id, controller_leadership=leadership,
            capabilities=capabilities,
            transfer=TransferSources(
                settings, store, mlflow.url, tracker, repository, data.assets, environments.environments, environments,
                endpoints, capabilities.transfer_parts(),
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
        self.computes.local.close()
        self.mlflow.stop()
