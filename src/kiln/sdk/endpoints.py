"""``Client().online_endpoints`` and ``Client().online_deployments``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from kiln import api
from kiln.api.endpoints import InvokeAnswer
from kiln.errors import InvalidSpec, KilnError, Unavailable, error_from_json
from kiln.sdk.environments import inline_environment_files
from kiln.sdk.rest import RestClient
from kiln.sdk.uploads import upload_path
from kiln.specs.endpoint import (
    DeploymentState,
    EndpointKeys,
    OnlineDeploymentSpec,
    OnlineDeploymentView,
    OnlineEndpointSpec,
    OnlineEndpointView,
)
from kiln.specs.html_tables import Listing
from kiln.specs.model import LineageNode
from kiln.specs.references import is_asset_reference
from kiln.specs.yaml_source import YamlSource, apply_overrides, spec_source, validate_model

if TYPE_CHECKING:
    from kiln.rollout.api import RolloutView

SETTLED = (DeploymentState.SUCCEEDED, DeploymentState.FAILED)
Spec = str | Path | dict[str, Any]
Overrides = list[str]  # KEY=VALUE, as --set takes them


class OnlineEndpointOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(self, spec: Spec | OnlineEndpointSpec, **fields: Any) -> OnlineEndpointView:
        source, _ = spec_source(spec, fields)
        body = validate_model(OnlineEndpointSpec, source).model_dump(mode="json", by_alias=True, exclude_none=True)
        return self._rest.call(api.endpoints.CREATE, json=body)

    def get(self, name: str) -> OnlineEndpointView:
        return self._rest.call(api.endpoints.SHOW, name=name)

    def list(self) -> list[OnlineEndpointView]:
        return Listing(self._rest.call(api.endpoints.LIST))

    def update(
        self,
        name: str,
        traffic: dict[str, int] | None = None,
        mirror_traffic: dict[str, int] | None = None,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> OnlineEndpointView:
        """``traffic`` replaces the whole split; deployments left out get 0 %."""
        body = {"traffic": traffic, "mirror_traffic": mirror_traffic, "description": description, "tags": tags}
        body = {k: v for k, v in body.items() if v is not None}
        return self._rest.call(api.endpoints.UPDATE, name=name, json=body)

    def delete(self, name: str) -> None:
        self._rest.call(api.endpoints.DELETE, name=name)

    def get_keys(self, name: str) -> EndpointKeys:
        return self._rest.call(api.endpoints.KEYS, name=name)

    def regenerate_keys(self, name: str, key_type: Literal["primary", "secondary"] = "primary") -> EndpointKeys:
        return self._rest.call(api.endpoints.REGENERATE_KEYS, name=name, json={"key_type": key_type})

    def invoke(
        self,
        name: str,
        request_file: str | Path | None = None,
        body: Any = None,
        deployment_name: str | None = None,
        path: str = "score",
        timeout: float = 60.0,
    ) -> Any:
        """Call the endpoint through its scoring URI with its primary key (with this client's own API token
        when its auth_mode is aml_token), as any client would. Returns the parsed JSON answer (or the text)."""
        if request_file is not None:
            file = Path(request_file)
            if not file.is_file():
                raise InvalidSpec(f"--request-file: {file} is not a file")
            content = file.read_bytes()
        else:
            content = json.dumps(body).encode()
        if self.get(name).auth_mode == "aml_token" and self._rest.token:
            credential = self._rest.token
        else:
            credential = self.get_keys(name).primary_key
        headers = {"Authorization": f"Bearer {credential}", "Content-Type": "application/json"}
        if deployment_name:
            headers["azureml-model-deployment"] = deployment_name
        url = f"{self._rest.url}/endpoints/{name}/{path.lstrip('/')}"
        try:
            response = httpx.post(url, content=content, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot reach endpoint '{name}' at {url}: {exc}") from exc
        try:
            payload: Any = response.json()
        except ValueError:
            payload = response.text
        if response.status_code >= 400:
            raise error_from_json(payload, response.status_code)
        return payload

    def encrypted_client(self, name: str, deployment_name: str | None = None) -> Any:
        """A :class:`kiln.encrypted.EncryptedClient` for the endpoint (an encrypted deployment), with its primary key
        (this client's API token when its auth_mode is aml_token): the secret key stays in that object."""
        from kiln.encrypted import CAPABILITY
        from kiln.encrypted.client import EncryptedClient

        CAPABILITY.check_installed("encrypted scoring")
        if self.get(name).auth_mode == "aml_token" and self._rest.token:
            credential = self._rest.token
        else:
            credential = self.get_keys(name).primary_key
        return EncryptedClient(f"{self._rest.url}/endpoints/{name}/score", credential, deployment=deployment_name)

    def invoke_encrypted(
        self, name: str, request_file: str | Path | None = None, rows: Any = None, deployment_name: str | None = None
    ) -> dict[str, Any]:
        """Encrypt the rows (a request file's, in any of the scoring bodies' shapes, or ``rows``) here, score them on
        the endpoint's encrypted deployment, decrypt the answer here: ``{"predictions", "scores"}``."""
        from kiln.encrypted.client import rows_of_request

        if request_file is not None:
            file = Path(request_file)
            if not file.is_file():
                raise InvalidSpec(f"--request-file: {file} is not a file")
            try:
                rows = rows_of_request(json.loads(file.read_text()))
            except ValueError as exc:
                raise InvalidSpec(f"--request-file: {file} is not JSON: {exc}") from exc
        with self.encrypted_client(name, deployment_name) as encrypted:
            scores = encrypted.decision_function(rows)
            predictions = encrypted.predictions_from(scores)
        return {"predictions": predictions.tolist(), "scores": scores.tolist()}

    def invoke_on_server(self, name: str, body: Any, deployment_name: str | None = None) -> InvokeAnswer:
        """Score ``body`` through the endpoint's scoring URI on the server's side (the caller holds no key;
        contributor or owner): the status, the deployment that answered and its answer."""
        request = {"body": body, "deployment": deployment_name}
        return self._rest.call(api.endpoints.INVOKE, name=name, json=request)

    def metrics_stream(self, name: str, snapshots: int = 600) -> Iterator[dict[str, Any]]:
        """The endpoint's live metrics, one snapshot a second (``snapshots`` of them): per deployment its
        totals, request and error rates and latency percentiles."""
        for response in self._rest.stream(api.endpoints.METRICS_STREAM, name=name, params={"snapshots": snapshots}):
            for line in response.iter_lines():
                if line.startswith("data: "):
                    yield json.loads(line[len("data: ") :])

    # Safe rollout (the rollout capability: it runs in the server) -----------------------------------------
    def rollout(
        self,
        name: str,
        deployment: str,
        steps: list[int],
        *,
        mirror: int = 0,
        max_error_rate: float = 0.01,
        max_p99_ms: float | None = None,
        window_seconds: float = 30.0,
        min_requests: int = 0,
    ) -> RolloutView:
        """Start a rollout of ``deployment``: ``mirror`` percent copied to it for a window, then its live share
        through ``steps`` (rising, ending at 100), each watched for ``window_seconds``; the server puts the traffic
        back as it was when its error rate or p99 crosses a limit. Answers at once: :meth:`wait_rollout` follows it."""
        from kiln.rollout import api as rollout_api

        fields = {
            "deployment": deployment, "steps": list(steps), "mirror": mirror, "max_error_rate": max_error_rate,
            "max_p99_ms": max_p99_ms, "window_seconds": window_seconds, "min_requests": min_requests,
        }  # fmt: skip
        request = validate_model(rollout_api.RolloutRequest, YamlSource(fields))
        return self._rest.call(rollout_api.START, name=name, json=request.model_dump(mode="json"))

    def get_rollout(self, name: str) -> RolloutView:
        """The endpoint's latest rollout, as it is now."""
        from kiln.rollout import api as rollout_api

        return self._rest.call(rollout_api.SHOW, name=name)

    def cancel_rollout(self, name: str) -> RolloutView:
        """Stop the running rollout; the server puts the traffic back as it was."""
        from kiln.rollout import api as rollout_api

        return self._rest.call(rollout_api.CANCEL, name=name)

    def wait_rollout(
        self, name: str, on_change: Callable[[RolloutView], None] | None = None, poll_seconds: float = 0.5
    ) -> RolloutView:
        """Follow the rollout until it ends (``on_change`` gets each new state); the final view."""
        last = None
        while True:
            view = self.get_rollout(name)
            shown = view.model_dump(exclude={"windows"}), [(w.phase, w.percent, w.state) for w in view.windows]
            if on_change is not None and shown != last:
                on_change(view)
            last = shown
            if view.status != "running":
                return view
            time.sleep(poll_seconds)


class OnlineDeploymentOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(
        self,
        spec: Spec | OnlineDeploymentSpec,
        all_traffic: bool = False,
        wait: bool = True,
        timeout: float = 600.0,
        set_values: Overrides | None = None,
        **fields: Any,
    ) -> OnlineDeploymentView:
        """Create a deployment; local ``model`` and ``code_configuration.code`` paths (relative to the
        YAML file) are uploaded first. With ``wait`` it returns once the deployment is ready and
        raises with the failure reason if it failed. ``all_traffic``: 100 % once ready."""
        deployment = self._prepared(spec, fields, set_values)
        body = deployment.model_dump(mode="json", by_alias=True, exclude_none=True)
        view = self._rest.call(
            api.endpoints.CREATE_DEPLOYMENT,
            name=deployment.endpoint_name,
            params={"all_traffic": all_traffic},
            json=body,
        )
        return self.wait(view.endpoint_name, view.name, timeout) if wait else view

    def update(
        self,
        name: str | None = None,
        endpoint_name: str | None = None,
        spec: Spec | OnlineDeploymentSpec | None = None,
        set_values: Overrides | None = None,
        wait: bool = True,
        timeout: float = 600.0,
    ) -> OnlineDeploymentView:
        """Replace the spec (or change fields of the stored one with ``set_values=["instance_count=2"]``);
        replicas roll one at a time. With a spec, the deployment and endpoint names come from it unless
        ``name``/``endpoint_name`` are given (then they override the spec's, as in ``create``)."""
        if spec is None:
            if name is None or endpoint_name is None:
                raise InvalidSpec(
                    "give the deployment's name and its endpoint's (--name, --endpoint-name), or a spec "
                    "(-f blue.yml) that names both"
                )
            stored = self.get(name, endpoint_name).spec
            source = YamlSource(apply_overrides(dict(stored), set_values or []))
            deployment = validate_model(OnlineDeploymentSpec, source)
        else:
            fields = {key: value for key, value in (("name", name), ("endpoint_name", endpoint_name)) if value}
            deployment = self._prepared(spec, fields, set_values or [])
        name, endpoint_name = deployment.name, deployment.endpoint_name
        body = deployment.model_dump(mode="json", by_alias=True, exclude_none=True)
        view = self._rest.call(api.endpoints.UPDATE_DEPLOYMENT, name=endpoint_name, deployment=name, json=body)
        return self.wait(endpoint_name, name, timeout) if wait else view

    def wait(self, endpoint_name: str, name: str, timeout: float = 600.0) -> OnlineDeploymentView:
        deadline = time.monotonic() + timeout
        while True:
            view = self.get(name, endpoint_name)
            if view.state in SETTLED:
                break
            if time.monotonic() > deadline:
                raise Unavailable(f"deployment '{name}' is still {view.state.value} after {timeout:.0f} s")
            time.sleep(0.25)
        if view.state == DeploymentState.FAILED:
            raise KilnError(f"deployment '{name}' failed: {view.failure_reason}")
        return view

    def get(self, name: str, endpoint_name: str) -> OnlineDeploymentView:
        return self._rest.call(api.endpoints.SHOW_DEPLOYMENT, name=endpoint_name, deployment=name)

    def list(self, endpoint_name: str) -> list[OnlineDeploymentView]:
        return Listing(self._rest.call(api.endpoints.LIST_DEPLOYMENTS, name=endpoint_name))

    def delete(self, name: str, endpoint_name: str) -> None:
        self._rest.call(api.endpoints.DELETE_DEPLOYMENT, name=endpoint_name, deployment=name)

    def get_logs(self, name: str, endpoint_name: str, lines: int = 100) -> str:
        return self._rest.call(
            api.endpoints.DEPLOYMENT_LOGS, name=endpoint_name, deployment=name, params={"lines": lines}
        ).logs

    def lineage(self, name: str, endpoint_name: str) -> LineageNode:
        """Upstream of the deployment: the exact model version it serves, and what that came from."""
        return self._rest.call(api.endpoints.DEPLOYMENT_LINEAGE, name=endpoint_name, deployment=name)

    def _prepared(
        self, spec: Spec | OnlineDeploymentSpec, fields: dict[str, Any], set_values: Overrides | None = None
    ) -> OnlineDeploymentSpec:
        source, base = spec_source(spec, fields)
        if set_values and isinstance(source.data, dict):
            apply_overrides(source.data, set_values)
        deployment = validate_model(OnlineDeploymentSpec, source)
        folder = base or Path.cwd()
        model = deployment.model
        if isinstance(model, str):
            if not is_asset_reference(model) and not model.startswith("upload:"):
                deployment.model = self._upload(folder, model, source, ("model",), keep_folder_name=True)
        elif not model.path.startswith("upload:"):
            model.path = self._upload(folder, model.path, source, ("model", "path"), keep_folder_name=True)
        code = deployment.code_configuration
        if code is not None and not code.code.startswith("upload:"):
            code.code = self._upload(folder, code.code, source, ("code_configuration", "code"))
        if isinstance(deployment.environment, dict):  # an inline environment: its files are sent inline too
            deployment.environment = inline_environment_files(deployment.environment, folder, source, ("environment",))
        return deployment

    def _upload(
        self, folder: Path, path: str, source: YamlSource, loc: tuple[str, ...], keep_folder_name: bool = False
    ) -> str:
        local = folder / path
        if not local.exists():
            raise InvalidSpec(f"{source.where(loc)}: '{path}' not found (looked for {local.resolve()})")
        return upload_path(self._rest, local, keep_folder_name)

    def package(
        self,
        name: str,
        endpoint_name: str,
        to: str = "docker",
        output: str | Path | None = None,
        overwrite: bool = False,
        image: str | None = None,
        autoscale: str | None = None,
    ) -> Path:
        """The deployment as a Docker build context (``to="docker"``) or Kubernetes manifests (``"kubernetes"``,
        for ``image``; ``autoscale="MIN,MAX"`` adds a HorizontalPodAutoscaler), unpacked into ``output`` (default
        ``./ENDPOINT-DEPLOYMENT-TO``)."""
        from kiln.packaging import api as packaging_api
        from kiln.sdk.packages import checked_output, unpack

        if to not in ("docker", "kubernetes"):
            raise InvalidSpec(f"--to {to!r}: expected docker or kubernetes")
        target = checked_output(output or f"{endpoint_name}-{name}-{to}", overwrite)
        params = {"to": to, "image": image, "autoscale": autoscale}
        return unpack(self._rest, packaging_api.PACKAGE_DEPLOYMENT, target, params, name=endpoint_name, deployment=name)
