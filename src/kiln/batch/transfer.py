"""Batch endpoints through a workspace's export and import (``kiln.transfer.parts``): each endpoint with its
deployments, as rows (their specs with uploads resolved: the model and code folders travel in the archive's store).
Always carried: a batch endpoint runs nothing until it is invoked, so unlike online endpoints (``--include-endpoints``)
it starts no process on the target. A deployment whose registered model differs on the target is not imported."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, NotFound
from kiln.specs.references import is_asset_reference, parse_asset_reference
from kiln.store.tables import BatchDeploymentRow, BatchEndpointRow
from kiln.transfer.rows import record_row, row_record

if TYPE_CHECKING:
    from kiln.batch.service import BatchService
    from kiln.store.batch_endpoints import BatchEndpointRepository
    from kiln.transfer.import_plan import State
    from kiln.transfer.parts import TransferPart

REGISTERED_MODEL = "registered model"  # the import's kind for MLflow's registered models


class BatchEndpoints:
    kind = "batch endpoint"
    member = "batch-endpoints"

    def __init__(self, repository: BatchEndpointRepository) -> None:
        self._repository = repository

    def export(self) -> list[dict[str, Any]]:
        return [
            {
                "endpoint": row_record(row),
                "deployments": [row_record(d) for d in self._repository.deployments(row.name)],
            }
            for row in self._repository.endpoints()
        ]

    def label(self, record: dict[str, Any]) -> str:
        return str(record["endpoint"]["name"])

    def plan(self, record: dict[str, Any], refused: Mapping[str, set[str]]) -> tuple[State, str]:
        for deployment in record["deployments"]:
            model = _model_name(deployment["spec"].get("model"))
            if model is not None and model in refused.get(REGISTERED_MODEL, set()):
                return (
                    "conflict",
                    f"its deployment {deployment['name']} scores with model {model}, which differs on the target",
                )
        name = self.label(record)
        try:
            existing = self._repository.get_endpoint(name)
        except NotFound:
            return "new", ""
        theirs = {row.name: row.spec for row in self._repository.deployments(name)}
        ours = {deployment["name"]: deployment["spec"] for deployment in record["deployments"]}
        if _without_default(existing.spec) != _without_default(record["endpoint"]["spec"]) or any(
            ours.get(deployment) != spec for deployment, spec in theirs.items()
        ):
            return "conflict", "the target's batch endpoint of that name differs"
        if set(theirs) == set(ours) and existing.spec == record["endpoint"]["spec"]:
            return "there", ""
        return "partial", ""

    def write(self, record: dict[str, Any]) -> None:
        """The endpoint if missing, its missing deployments, then its default deployment."""
        endpoint = record["endpoint"]
        repository = self._repository
        name = endpoint["name"]
        try:
            repository.get_endpoint(name)
        except NotFound:
            if not repository.add_endpoint(
                record_row(BatchEndpointRow, {**endpoint, "spec": _without_default(endpoint["spec"])})
            ):
                raise Conflict(f"batch endpoint '{name}' was created on the target meanwhile") from None
        existing = {row.name for row in repository.deployments(name)}
        for deployment in record["deployments"]:
            if deployment["name"] not in existing and not repository.add_deployment(
                record_row(BatchDeploymentRow, deployment, id=None, endpoint=name)
            ):
                raise Conflict(f"batch deployment {name}/{deployment['name']} was created on the target meanwhile")
        repository.set_endpoint_spec(name, endpoint["spec"])  # the default, once its deployment is there

    def note(self) -> str | None:
        return None


def _without_default(spec: dict[str, Any]) -> dict[str, Any]:
    """An endpoint's spec less its default deployment (set once that deployment is imported)."""
    defaults = {key: value for key, value in (spec.get("defaults") or {}).items() if key != "deployment_name"}
    return {**spec, "defaults": defaults}


def _model_name(model: Any) -> str | None:
    """The registered model a deployment's ``model`` names (None: inline, or none)."""
    if isinstance(model, str) and is_asset_reference(model):
        return parse_asset_reference(model, "model").name
    return None


def transfer_parts(service: BatchService) -> tuple[TransferPart, ...]:
    return (BatchEndpoints(service.repository),)
