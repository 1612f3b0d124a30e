"""Online endpoint rules: keys, traffic, and the desired state of deployments.

Keys: each key is HMAC-SHA256(workspace key secret, endpoint + slot + salt). The database
keeps only the salt and the key's SHA-256, so a copy of the database lets nobody call an
endpoint, while ``get-credentials`` re-derives the keys on demand (as Azure ML returns them
on demand). Regenerating a key draws a new salt: the old key stops working at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from kiln.authorization import key_hash
from kiln.clock import utcnow
from kiln.errors import AlreadyExists, Conflict, InvalidSpec, UnsupportedModel
from kiln.services.deployment_files import DeploymentFiles
from kiln.serving.control.controller import EndpointController
from kiln.serving.control.gateway_metrics import DeploymentStats, GatewayMetrics
from kiln.specs.endpoint import (
    DeploymentState,
    EndpointKeys,
    EndpointUpdate,
    OnlineDeploymentSpec,
    OnlineDeploymentView,
    OnlineEndpointSpec,
    OnlineEndpointView,
    check_mirror_traffic,
    check_traffic,
)
from kiln.store.endpoints import EndpointRepository
from kiln.store.tables import OnlineDeploymentRow, OnlineEndpointRow

KeyType = Literal["primary", "secondary"]
T = TypeVar("T")


class EndpointService:
    def __init__(
        self,
        repository: EndpointRepository,
        controller: EndpointController,
        files: DeploymentFiles,
        metrics: GatewayMetrics,
        key_secret: str,
        workspace_url: str,
    ) -> None:
        self._repo = repository
        self._controller = controller
        self._files = files
        self._metrics = metrics
        self._secret = key_secret.encode()
        self._url = workspace_url.rstrip("/")

    # Endpoints -----------------------------------------------------------------------------------
    def create_endpoint(self, spec: OnlineEndpointSpec, created_by: str | None = None) -> OnlineEndpointView:
        _checked(spec.checked_mirror)
        named = [name for name, share in {**spec.traffic, **spec.mirror_traffic}.items() if share]
        if named:
            raise InvalidSpec(
                f"traffic: a new endpoint has no deployments yet, so it cannot send traffic to {', '.join(named)}; "
                "create the deployments, then set traffic (or use --all-traffic)"
            )
        now = utcnow()
        primary, secondary = secrets.token_hex(16), secrets.token_hex(16)
        row = OnlineEndpointRow(
            name=spec.name, spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            primary_key_salt=primary, primary_key_hash=key_hash(self._key(spec.name, "primary", primary)),
            secondary_key_salt=secondary, secondary_key_hash=key_hash(self._key(spec.name, "secondary", secondary)),
            created_at=now, updated_at=now, created_by=created_by,
        )  # fmt: skip
        if not self._repo.add_endpoint(row):
            raise AlreadyExists(
                f"online endpoint '{spec.name}' exists already (kiln online-endpoint update changes it)"
            )
        self._controller.publish_routes()
        return self.get_endpoint(spec.name)

    def get_endpoint(self, name: str) -> OnlineEndpointView:
        return self._endpoint_view(self._repo.get_endpoint(name))

    def list_endpoints(self) -> list[OnlineEndpointView]:
        return [self._endpoint_view(row) for row in self._repo.endpoints()]

    def deployment_counters(self, endpoint: str, deployment: str) -> DeploymentStats:
        """What this server's gateway counted of a deployment so far (a copy; ``kiln.rollout`` watches it)."""
        return self._metrics.counters(endpoint, deployment)

    def update_endpoint(self, name: str, update: EndpointUpdate) -> OnlineEndpointView:
        row = self._repo.get_endpoint(name)
        spec = OnlineEndpointSpec.model_validate(row.spec)
        deployments = {d.name: d for d in self._repo.deployments(name)}
        if update.traffic is not None:
            traffic = _checked(lambda: check_traffic(update.traffic or {}, "traffic"))
            # a deployment not named keeps no traffic: the new split is the whole split
            spec.traffic = traffic
        if update.mirror_traffic is not None:
            spec.mirror_traffic = update.mirror_traffic
        _checked(lambda: check_mirror_traffic(spec.mirror_traffic, spec.traffic, "mirror_traffic"))
        for field, shares in (("traffic", spec.traffic), ("mirror_traffic", spec.mirror_traffic)):
            for deployment, share in shares.items():
                found = deployments.get(deployment)
                if found is None:
                    known = ", ".join(deployments) or "none yet"
                    raise InvalidSpec(f"{field}: endpoint '{name}' has no deployment '{deployment}' (it has: {known})")
                if (
                    share
                    and found.state == DeploymentState.FAILED
                    and not self._controller.replica_views(name, deployment)
                ):
                    raise Conflict(
                        f"{field}: deployment '{deployment}' failed and has no running replica, so it cannot take traffic; "
                        "fix it with kiln online-deployment update first"
                    )
        if update.description is not None:
            spec.description = update.description
        if update.tags is not None:
            spec.tags = update.tags
        self._repo.set_endpoint_fields(name, spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True))
        self._controller.publish_routes()
        return self.get_endpoint(name)

    def delete_endpoint(self, name: str) -> None:
        self._repo.get_endpoint(name)
        for row in self._repo.deployments(name):
            self._repo.set_deployment_fields(row.id, state=DeploymentState.DELETING.value)
        self._controller.remove(name)
        self._repo.delete_endpoint(name)
        self._metrics.forget(name)
        self._controller.publish_routes()

    # Keys --------------------------------------------------------------------------------------
    def _key(self, endpoint: str, slot: KeyType, salt: str) -> str:
        digest = hmac.new(self._secret, f"{endpoint}\0{slot}\0{salt}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def keys(self, name: str) -> EndpointKeys:
        row = self._repo.get_endpoint(name)
        return EndpointKeys(
            primary_key=self._key(name, "primary", row.primary_key_salt),
            secondary_key=self._key(name, "secondary", row.secondary_key_salt),
        )

    def regenerate_key(self, name: str, key_type: KeyType) -> EndpointKeys:
        self._repo.get_endpoint(name)
        salt = secrets.token_hex(16)
        fields = {f"{key_type}_key_salt": salt, f"{key_type}_key_hash": key_hash(self._key(name, key_type, salt))}
        self._repo.set_endpoint_fields(name, **fields)
        self._controller.publish_routes()
        return self.keys(name)

    # Deployments -----------------------------------------------------------------------------------
    def create_deployment(
        self, spec: OnlineDeploymentSpec, all_traffic: bool = False, created_by: str | None = None
    ) -> OnlineDeploymentView:
        self._repo.get_endpoint(spec.endpoint_name)
        if self._repo.find_deployment(spec.endpoint_name, spec.name) is not None:
            raise AlreadyExists(
                f"deployment '{spec.name}' exists on endpoint '{spec.endpoint_name}' (kiln online-deployment update changes it)"
            )
        pinned = self._files.pin(spec, created_by)
        _check_encryptable(spec, pinned)
        now = utcnow()
        row = OnlineDeploymentRow(
            endpoint=spec.endpoint_name, name=spec.name, spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            model=pinned, generation=1, state=DeploymentState.CREATING.value, take_all_traffic=all_traffic,
            created_at=now, updated_at=now, created_by=created_by,
        )  # fmt: skip
        if not self._repo.add_deployment(row):
            raise AlreadyExists(f"deployment '{spec.name}' exists on endpoint '{spec.endpoint_name}'")
        self._controller.wake()
        return self.get_deployment(spec.endpoint_name, spec.name)

    def update_deployment(self, endpoint: str, name: str, spec: OnlineDeploymentSpec) -> OnlineDeploymentView:
        row = self._repo.get_deployment(endpoint, name)
        if (spec.endpoint_name, spec.name) != (endpoint, name):
            raise InvalidSpec(
                f"name/endpoint_name: the spec names {spec.endpoint_name}/{spec.name}, not {endpoint}/{name}; "
                "a deployment cannot be renamed or moved"
            )
        if row.state == DeploymentState.DELETING:
            raise Conflict(f"deployment '{name}' is being deleted")
        old = OnlineDeploymentSpec.model_validate(row.spec)
        stored = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        if (
            old.model_copy(update={"instance_count": spec.instance_count}) == spec
            and row.state != DeploymentState.FAILED
        ):
            # only the replica count changed: scale without restarting the replicas there are
            self._repo.set_deployment_fields(row.id, spec=stored, state=DeploymentState.UPDATING.value)
        else:
            pinned = self._files.pin(spec)
            _check_encryptable(spec, pinned)
            self._repo.set_deployment_fields(
                row.id, spec=stored, model=pinned, generation=row.generation + 1,
                state=DeploymentState.UPDATING.value, failure_reason=None,
            )  # fmt: skip
        self._controller.wake()
        return self.get_deployment(endpoint, name)

    def get_deployment(self, endpoint: str, name: str) -> OnlineDeploymentView:
        return self._deployment_view(self._repo.get_deployment(endpoint, name))

    def list_deployments(self, endpoint: str) -> list[OnlineDeploymentView]:
        self._repo.get_endpoint(endpoint)
        return [self._deployment_view(row) for row in self._repo.deployments(endpoint)]

    def delete_deployment(self, endpoint: str, name: str) -> None:
        row = self._repo.get_deployment(endpoint, name)
        spec = OnlineEndpointSpec.model_validate(self._repo.get_endpoint(endpoint).spec)
        if spec.traffic.get(name, 0) > 0 or spec.mirror_traffic.get(name, 0) > 0:
            raise Conflict(
                f"deployment '{name}' still takes traffic on endpoint '{endpoint}'; "
                f'move it first: kiln online-endpoint update -n {endpoint} --traffic "…"'
            )
        self._repo.set_deployment_fields(row.id, state=DeploymentState.DELETING.value)
        self._controller.remove(endpoint, name)
        spec.traffic.pop(name, None)
        spec.mirror_traffic.pop(name, None)
        self._repo.set_endpoint_fields(endpoint, spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True))
        self._repo.delete_deployment(endpoint, name)
        self._metrics.forget(endpoint, name)
        self._controller.publish_routes()

    def logs(self, endpoint: str, name: str, lines: int = 100) -> str:
        self._repo.get_deployment(endpoint, name)
        parts = []
        for file in self._controller.log_files(endpoint, name):
            try:
                text = file.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"==> {file.name} <==\n" + "\n".join(text))
        return "\n\n".join(parts)

    def served_models(self) -> list[tuple[str, str, str, str]]:
        """(endpoint, deployment, model name, model version) of every registered model served."""
        return [
            (row.endpoint, row.name, str(row.model["name"]), str(row.model["version"]))
            for row in self._repo.deployments()
            if row.model.get("source") == "registered"
        ]

    def pinned_deployment(self, endpoint: str, name: str) -> tuple[OnlineDeploymentSpec, dict[str, Any]]:
        """A deployment's spec and what it was pinned to (its model, code and environment on the server's
        disk): what a packaged replica is made of (``kiln.packaging``)."""
        row = self._repo.get_deployment(endpoint, name)
        return OnlineDeploymentSpec.model_validate(row.spec), dict(row.model)

    def key_hashes(self, name: str) -> tuple[str, str]:
        """The SHA-256 of the endpoint's primary and secondary keys (never the keys): what a packaged replica
        checks callers' keys against."""
        row = self._repo.get_endpoint(name)
        return row.primary_key_hash, row.secondary_key_hash

    # Views --------------------------------------------------------------------------------------
    def _endpoint_view(self, row: OnlineEndpointRow) -> OnlineEndpointView:
        spec = OnlineEndpointSpec.model_validate(row.spec)
        return OnlineEndpointView(
            name=row.name, description=spec.description, tags=dict(spec.tags), auth_mode=spec.auth_mode,
            scoring_uri=f"{self._url}/endpoints/{row.name}/score", traffic=spec.traffic,
            mirror_traffic=spec.mirror_traffic, created_at=row.created_at, updated_at=row.updated_at,
            deployments=[self._deployment_view(d) for d in self._repo.deployments(row.name)],
            created_by=row.created_by,
        )  # fmt: skip

    def _deployment_view(self, row: OnlineDeploymentRow) -> OnlineDeploymentView:
        spec = OnlineDeploymentSpec.model_validate(row.spec)
        replicas = self._controller.replica_views(row.endpoint, row.name)
        return OnlineDeploymentView(
            name=row.name, endpoint_name=row.endpoint, state=DeploymentState(row.state),
            failure_reason=row.failure_reason, model=spec.model_path,
            model_name=row.model.get("name"), model_version=row.model.get("version"),
            instance_count=spec.instance_count, ready_replicas=sum(1 for r in replicas if r.state == "ready"),
            replicas=replicas, generation=row.generation, created_at=row.created_at, updated_at=row.updated_at,
            metrics=self._metrics.view(row.endpoint, row.name), spec=row.spec, created_by=row.created_by,
        )  # fmt: skip


def _check_encryptable(spec: OnlineDeploymentSpec, pinned: dict[str, Any]) -> None:
    """``encryption``: the model must have an exact homomorphic form (its weights are read here, at create, so
    that an unsupported model is refused now with the list of what is supported, not when its replica starts)."""
    if spec.encryption is None:
        return
    from kiln.encrypted import CAPABILITY
    from kiln.encrypted.model_form import load_form

    CAPABILITY.check_installed("a deployment with encryption")
    try:
        load_form(Path(pinned["model_dir"]))
    except InvalidSpec as exc:
        raise type(exc)(f"encryption: {exc.message}") from exc
    except Exception as exc:  # a model file its flavor cannot load
        raise UnsupportedModel(f"encryption: cannot read the model's weights ({type(exc).__name__}: {exc})") from exc


def _checked(check: Callable[[], T]) -> T:
    """Run a traffic check; its ValueError becomes the InvalidSpec a user sees."""
    try:
        return check()
    except (ValueError, ValidationError) as exc:
        raise InvalidSpec(str(exc)) from None


def key_file(home: Path) -> Path:
    return home / "endpoint-keys.secret"
