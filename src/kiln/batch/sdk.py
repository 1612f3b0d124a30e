"""``Client().batch_endpoints`` and ``Client().batch_deployments``: over REST, local paths uploaded first."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.batch import api
from kiln.batch.spec import (
    BatchDeploymentSpec,
    BatchDeploymentView,
    BatchEndpointSpec,
    BatchEndpointView,
    BatchInvokeRequest,
)
from kiln.errors import InvalidSpec
from kiln.sdk.uploads import ensure_readable, upload_path
from kiln.specs.endpoint import InlineModel
from kiln.specs.html_tables import Listing
from kiln.specs.references import is_asset_reference
from kiln.specs.remote_paths import is_remote_path
from kiln.specs.yaml_source import YamlSource, apply_overrides, spec_source, validate_model

if TYPE_CHECKING:
    from kiln.sdk.jobs import Job
    from kiln.sdk.rest import RestClient
    from kiln.specs.views import JobView

Spec = str | Path | dict[str, Any]


class BatchEndpointOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(self, spec: Spec | BatchEndpointSpec, **fields: Any) -> BatchEndpointView:
        source, _ = spec_source(spec, fields)
        body = validate_model(BatchEndpointSpec, source).model_dump(mode="json", by_alias=True, exclude_none=True)
        return self._rest.call(api.CREATE, json=body)

    def get(self, name: str) -> BatchEndpointView:
        return self._rest.call(api.SHOW, name=name)

    def list(self) -> list[BatchEndpointView]:
        return Listing(self._rest.call(api.LIST))

    def delete(self, name: str) -> None:
        self._rest.call(api.DELETE, name=name)

    def invoke(
        self, name: str, input: str | Path, *, deployment_name: str | None = None, input_type: str | None = None,
        display_name: str | None = None, experiment_name: str | None = None,
    ) -> Job:  # fmt: skip
        """Score ``input`` (a data asset ``kiln:NAME@latest``, a datastore path, or a local folder or file: uploaded
        first) with the deployment (default: the endpoint's): a ``batch_scoring`` job, whose output
        ``predictions`` holds the predictions."""
        from kiln.sdk.jobs import Job, JobOperations

        fields = {
            "input": self._input(input), "input_type": input_type, "deployment": deployment_name,
            "display_name": display_name, "experiment_name": experiment_name,
        }  # fmt: skip
        request = validate_model(BatchInvokeRequest, YamlSource({k: v for k, v in fields.items() if v is not None}))
        view = self._rest.call(api.INVOKE, name=name, json=request.model_dump(mode="json", exclude_none=True))
        return Job(JobOperations(self._rest), view)

    def list_jobs(self, name: str) -> builtins.list[JobView]:
        """The endpoint's invocations, newest first."""
        return Listing(self._rest.call(api.LIST_JOBS, name=name))

    def _input(self, given: str | Path) -> str:
        text = str(given)
        if isinstance(given, str) and (is_asset_reference(text) or is_remote_path(text) or text.startswith("upload:")):
            return text
        local = Path(given)
        if not local.exists():
            raise InvalidSpec(
                f"--input: '{text}' not found (looked for {local.resolve()}); a data asset is written "
                "kiln:NAME:VERSION or kiln:NAME@latest, a datastore path azureml://datastores/NAME/paths/…"
            )
        ensure_readable(local, "--input")
        return upload_path(self._rest, local)


class BatchDeploymentOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(
        self, spec: Spec | BatchDeploymentSpec, set_default: bool = False, set_values: list[str] | None = None,
        **fields: Any,
    ) -> BatchDeploymentView:  # fmt: skip
        """Create (or replace) a deployment; a local ``model`` or ``code_configuration.code`` (relative to the YAML
        file) is uploaded first. ``set_default``: the endpoint's default deployment from now on."""
        source, base = spec_source(spec, fields)
        if set_values and isinstance(source.data, dict):
            apply_overrides(source.data, set_values)
        deployment = validate_model(BatchDeploymentSpec, source)
        folder = base or Path.cwd()
        model = deployment.model
        if isinstance(model, str):
            if not (is_asset_reference(model) or model.startswith("upload:")):
                deployment.model = self._upload(folder, model, source, ("model",), keep_folder_name=True)
        elif isinstance(model, InlineModel) and not model.path.startswith("upload:"):
            model.path = self._upload(folder, model.path, source, ("model", "path"), keep_folder_name=True)
        code = deployment.code_configuration
        if code is not None and not code.code.startswith("upload:"):
            code.code = self._upload(folder, code.code, source, ("code_configuration", "code"))
        body = deployment.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self._rest.call(
            api.CREATE_DEPLOYMENT, name=deployment.endpoint_name, params={"set_default": set_default}, json=body
        )

    def get(self, name: str, endpoint_name: str) -> BatchDeploymentView:
        return self._rest.call(api.SHOW_DEPLOYMENT, name=endpoint_name, deployment=name)

    def list(self, endpoint_name: str) -> list[BatchDeploymentView]:
        return Listing(self._rest.call(api.LIST_DEPLOYMENTS, name=endpoint_name))

    def delete(self, name: str, endpoint_name: str) -> None:
        self._rest.call(api.DELETE_DEPLOYMENT, name=endpoint_name, deployment=name)

    def _upload(
        self, folder: Path, path: str, source: YamlSource, loc: tuple[str, ...], keep_folder_name: bool = False
    ) -> str:
        local = folder / path
        if not local.exists():
            raise InvalidSpec(f"{source.where(loc)}: '{path}' not found (looked for {local.resolve()})")
        return upload_path(self._rest, local, keep_folder_name)


__all__ = ["BatchDeploymentOperations", "BatchEndpointOperations"]
