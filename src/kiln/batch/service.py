"""The batch endpoints of a workspace: endpoints and deployments kept in the store (``kiln.store.batch_endpoints``),
and invocations submitted as ``batch_scoring`` jobs through the workspace's JobService (the model and the files are
read in the job's process, never here). Every check — the deployment, its model and script, the input — is made
before a job is recorded."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any, cast

from kiln.batch.spec import (
    BatchDeploymentSpec,
    BatchDeploymentView,
    BatchEndpointSpec,
    BatchEndpointView,
    BatchInvokeRequest,
)
from kiln.clock import utcnow
from kiln.errors import AlreadyExists, Conflict, InvalidSpec
from kiln.services.uploads import UploadService
from kiln.specs.endpoint import InlineModel
from kiln.specs.job_kinds import parse_job_spec
from kiln.specs.references import is_asset_reference, parse_asset_reference
from kiln.specs.remote_paths import is_remote_path
from kiln.store.batch_endpoints import BatchEndpointRepository
from kiln.store.jobs import JobFilters
from kiln.store.tables import BatchDeploymentRow, BatchEndpointRow

if TYPE_CHECKING:
    from kiln.capabilities.services import CapabilityContext
    from kiln.specs.job import JobSpecBase
    from kiln.specs.roles import Role
    from kiln.specs.views import JobView

ENDPOINT_TAG, DEPLOYMENT_TAG = "kiln.batch.endpoint", "kiln.batch.deployment"
EXPERIMENT_PREFIX = "batch-"
MAX_LISTED_JOBS = 200


class BatchService:
    def __init__(self, context: CapabilityContext) -> None:
        self._repository = BatchEndpointRepository(context.data.assets.sessions)
        self._jobs = context.jobs
        self._models = context.models
        self._data = context.data
        self._store = context.artifacts
        self._uploads = UploadService(context.artifacts, context.folder)

    @property
    def repository(self) -> BatchEndpointRepository:
        """The endpoints' and deployments' rows (what a workspace's export carries: ``kiln.batch.transfer``)."""
        return self._repository

    # Endpoints -----------------------------------------------------------------------------------------------
    def create_endpoint(self, spec: BatchEndpointSpec, created_by: str | None = None) -> BatchEndpointView:
        if spec.defaults.deployment_name:
            raise InvalidSpec(
                "defaults.deployment_name: a new endpoint has no deployments yet; leave it out (the first deployment "
                "becomes the default, or kiln batch-deployment create --set-default)"
            )
        now = utcnow()
        row = BatchEndpointRow(
            name=spec.name, spec=_stored(spec), created_at=now, updated_at=now, created_by=created_by
        )
        if not self._repository.add_endpoint(row):
            raise AlreadyExists(
                f"batch endpoint '{spec.name}' exists already (kiln batch-endpoint show -n {spec.name})"
            )
        return self.get_endpoint(spec.name)

    def get_endpoint(self, name: str) -> BatchEndpointView:
        return self._endpoint_view(self._repository.get_endpoint(name))

    def list_endpoints(self) -> list[BatchEndpointView]:
        return [self._endpoint_view(row) for row in self._repository.endpoints()]

    def delete_endpoint(self, name: str) -> None:
        self._repository.get_endpoint(name)
        self._repository.delete_endpoint(name)

    def _endpoint_view(self, row: BatchEndpointRow) -> BatchEndpointView:
        spec = BatchEndpointSpec.model_validate(row.spec)
        return BatchEndpointView(
            name=row.name, description=spec.description, tags=spec.tags, auth_mode=spec.auth_mode,
            default_deployment=spec.defaults.deployment_name,
            deployments=[d.name for d in self._repository.deployments(row.name)],
            invocation_url=f"/api/v1/batch-endpoints/{row.name}/jobs", created_at=row.created_at,
            created_by=row.created_by,
        )  # fmt: skip

    # Deployments ---------------------------------------------------------------------------------------------
    def create_deployment(
        self, endpoint: str, spec: BatchDeploymentSpec, set_default: bool = False, created_by: str | None = None
    ) -> BatchDeploymentView:
        if spec.endpoint_name != endpoint:
            raise InvalidSpec(
                f"endpoint_name: '{spec.endpoint_name}' differs from the endpoint '{endpoint}' in the path"
            )
        endpoint_row = self._repository.get_endpoint(endpoint)
        model_type = self._check_model(spec)
        self._check_script(spec)
        now = utcnow()
        stored = _stored(spec)
        if self._repository.find_deployment(endpoint, spec.name) is None:
            row = BatchDeploymentRow(
                endpoint=endpoint, name=spec.name, spec=stored, model_type=model_type, created_at=now, updated_at=now,
                created_by=created_by,
            )  # fmt: skip
            if not self._repository.add_deployment(row):
                raise Conflict(f"batch deployment '{spec.name}' was created meanwhile; try again")
        else:
            self._repository.replace_deployment(endpoint, spec.name, spec=stored, model_type=model_type)
        endpoint_spec = BatchEndpointSpec.model_validate(endpoint_row.spec)
        if set_default or not endpoint_spec.defaults.deployment_name:
            endpoint_spec.defaults.deployment_name = spec.name
            self._repository.set_endpoint_spec(endpoint, _stored(endpoint_spec))
        return self.get_deployment(endpoint, spec.name)

    def get_deployment(self, endpoint: str, name: str) -> BatchDeploymentView:
        endpoint_row = self._repository.get_endpoint(endpoint)
        return self._deployment_view(self._repository.get_deployment(endpoint, name), _default_of(endpoint_row))

    def list_deployments(self, endpoint: str) -> list[BatchDeploymentView]:
        default = _default_of(self._repository.get_endpoint(endpoint))
        return [self._deployment_view(row, default) for row in self._repository.deployments(endpoint)]

    def delete_deployment(self, endpoint: str, name: str) -> None:
        endpoint_row = self._repository.get_endpoint(endpoint)
        self._repository.get_deployment(endpoint, name)
        others = [d.name for d in self._repository.deployments(endpoint) if d.name != name]
        if _default_of(endpoint_row) == name:
            if others:
                raise Conflict(
                    f"'{name}' is the default deployment of '{endpoint}'; make another the default first "
                    f"(kiln batch-deployment create -f … --set-default), or delete the endpoint"
                )
            spec = BatchEndpointSpec.model_validate(endpoint_row.spec)
            spec.defaults.deployment_name = None
            self._repository.set_endpoint_spec(endpoint, _stored(spec))
        self._repository.delete_deployment(endpoint, name)

    def _deployment_view(self, row: BatchDeploymentRow, default: str | None) -> BatchDeploymentView:
        spec = BatchDeploymentSpec.model_validate(row.spec)
        code = spec.code_configuration
        return BatchDeploymentView(
            name=row.name, endpoint_name=row.endpoint, model=_model_path(spec), model_type=row.model_type,
            scoring_script=code.scoring_script if code else None, compute=spec.compute, is_default=row.name == default,
            spec=row.spec, created_at=row.created_at, updated_at=row.updated_at, created_by=row.created_by,
        )  # fmt: skip

    def _check_model(self, spec: BatchDeploymentSpec) -> str:
        """The model's type, once it is found: a registered version (or alias) or an upload."""
        model = spec.model
        if isinstance(model, InlineModel):
            self._check_upload(model.path, "model.path")
            model_type: str = model.type
        elif is_asset_reference(model):
            reference = parse_asset_reference(model, "model")
            model_type = self._models.get_version(reference.name, reference.version or reference.label or "latest").type
        else:
            self._check_upload(model, "model")
            model_type = "mlflow_model"
        if spec.code_configuration is None and model_type != "mlflow_model":
            raise InvalidSpec(
                f"model: a {model_type} has no predict kiln can call; give code_configuration with a scoring script "
                "(init() and run(mini_batch)), or deploy an MLflow model"
            )
        return model_type

    def _check_upload(self, path: str, field: str) -> None:
        if not path.startswith("upload:"):
            raise InvalidSpec(f"{field}: {path!r} is not a registered model (kiln:NAME:VERSION) nor an upload")
        self._uploads.resolve(path, field)

    def _check_script(self, spec: BatchDeploymentSpec) -> None:
        """The scoring script is in the code and defines run() (read, never run, here)."""
        code = spec.code_configuration
        if code is None:
            return
        self._check_upload(code.code, "code_configuration.code")
        script = code.scoring_script.removeprefix("./")
        key, _ = self._uploads.resolve(f"{code.code.rstrip('/')}/{script}", "code_configuration.scoring_script")
        with self._store.open(key) as handle:
            text = handle.read()
        try:
            tree = ast.parse(text, filename=script)
        except SyntaxError as exc:
            raise InvalidSpec(
                f"code_configuration.scoring_script: {script} does not parse: line {exc.lineno}: {exc.msg}"
            ) from None
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        if "run" not in defined:
            raise InvalidSpec(
                f"code_configuration.scoring_script: {script} defines no run(mini_batch); a batch scoring script "
                "defines init() (optional) and run(mini_batch), which gets a list of file paths and returns rows"
            )

    # Invocations ---------------------------------------------------------------------------------------------
    def invoke(
        self, name: str, request: BatchInvokeRequest, created_by: str | None = None, role: Role | None = None
    ) -> JobView:
        endpoint_row = self._repository.get_endpoint(name)
        deployment_name = request.deployment or _default_of(endpoint_row)
        if deployment_name is None:
            raise InvalidSpec(
                f"batch endpoint '{name}' has no default deployment; name one (--deployment NAME) or make one the "
                f"default (kiln batch-deployment create -f deployment.yml --set-default)"
            )
        row = self._repository.get_deployment(name, deployment_name)
        spec = cast("JobSpecBase", parse_job_spec(self.job_spec(row, request)))
        return self._jobs.submit(spec, created_by=created_by, role=role)

    def job_spec(self, row: BatchDeploymentRow, request: BatchInvokeRequest) -> dict[str, Any]:
        """The ``batch_scoring`` job of one invocation: the deployment's settings, its model pinned to a version."""
        spec = BatchDeploymentSpec.model_validate(row.spec)
        code = spec.code_configuration
        job: dict[str, Any] = {
            "type": "batch_scoring", "endpoint_name": row.endpoint, "deployment_name": row.name,
            "display_name": request.display_name or f"{row.endpoint}/{row.name}",
            "experiment_name": request.experiment_name or f"{EXPERIMENT_PREFIX}{row.endpoint}",
            "tags": {ENDPOINT_TAG: row.endpoint, DEPLOYMENT_TAG: row.name},
            "model": self._pinned_model(spec), "model_type": row.model_type,
            "input": request.input, "input_type": self._input_type(request),
            "compute": spec.compute, "mini_batch_size": spec.mini_batch_size,
            "max_concurrency_per_instance": spec.max_concurrency_per_instance,
            "instance_count": spec.resources.instance_count, "max_retries": spec.retry_settings.max_retries,
            "timeout": spec.retry_settings.timeout, "error_threshold": spec.error_threshold,
            "logging_level": spec.logging_level, "output_action": spec.output_action,
            "output_file_name": spec.output_file_name, "environment_variables": spec.environment_variables,
        }  # fmt: skip
        if code is not None:
            job["code"], job["scoring_script"] = code.code, code.scoring_script
        if spec.environment is not None:
            job["environment"] = spec.environment
        return job

    def _pinned_model(self, spec: BatchDeploymentSpec) -> str:
        model = _model_path(spec)
        if not is_asset_reference(model):
            return model
        reference = parse_asset_reference(model, "model")
        version = self._models.get_version(reference.name, reference.version or reference.label or "latest")
        return f"kiln:{version.name}:{version.version}"

    def _input_type(self, request: BatchInvokeRequest) -> str:
        if is_asset_reference(request.input):
            found = self._data.for_input(parse_asset_reference(request.input, "input"), "input").type
            if request.input_type and request.input_type != found:
                raise InvalidSpec(f"input_type: {request.input_type} given, but {request.input} is a {found}")
            return str(found)
        if not (request.input.startswith("upload:") or is_remote_path(request.input)):
            raise InvalidSpec(
                f"input: {request.input!r} is not a data asset (kiln:NAME:VERSION, kiln:NAME@latest), an upload or a "
                "datastore path (azureml://datastores/NAME/paths/…); a local folder is uploaded by the CLI and SDK"
            )
        if request.input.startswith("upload:"):
            self._uploads.resolve(request.input, "input")
        return request.input_type or "uri_folder"

    def list_jobs(self, name: str) -> list[JobView]:
        self._repository.get_endpoint(name)
        views, _ = self._jobs.search(JobFilters(tags={ENDPOINT_TAG: name}), limit=MAX_LISTED_JOBS)
        return views


def _stored(spec: BatchEndpointSpec | BatchDeploymentSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def _default_of(row: BatchEndpointRow) -> str | None:
    return BatchEndpointSpec.model_validate(row.spec).defaults.deployment_name


def _model_path(spec: BatchDeploymentSpec) -> str:
    return spec.model.path if isinstance(spec.model, InlineModel) else spec.model
