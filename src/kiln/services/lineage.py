"""Lineage: where a model version came from, traced upstream through jobs to data, code,
environments and earlier models (data → job → model → job → model)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiln.errors import NotFound
from kiln.services.models import ModelService
from kiln.specs.model import LineageNode
from kiln.specs.pins import DataPin, InputPin, ModelPin, UploadPin, environment_pin, input_pins
from kiln.specs.references import AssetReference
from kiln.store.jobs import JobRepository
from kiln.store.tables import JobRow

if TYPE_CHECKING:
    from kiln.services.endpoints import EndpointService

MAX_DEPTH = 32


class LineageService:
    def __init__(self, models: ModelService, jobs: JobRepository, endpoints: EndpointService | None = None) -> None:
        self._models = models
        self._jobs = jobs
        self._endpoints = endpoints

    def deployment(self, endpoint: str, name: str) -> LineageNode:
        """An online deployment, upstream of which is the exact model version it serves."""
        if self._endpoints is None:
            raise NotFound("online endpoints are not available in this workspace")
        view = self._endpoints.get_deployment(endpoint, name)
        node = LineageNode(
            kind="deployment", id=f"{endpoint}/{name}",
            details={"state": view.state.value, "generation": view.generation, "model": view.model},
        )  # fmt: skip
        if view.model_name and view.model_version and not str(view.model).startswith("upload:"):
            try:
                node.upstream.append(self.model(view.model_name, view.model_version))
            except NotFound:
                node.upstream.append(
                    LineageNode(kind="model", id=f"{view.model_name}:{view.model_version}", details={"missing": True})
                )
        return node

    def deployments_serving(self, name: str, version: str) -> list[str]:
        """ENDPOINT/DEPLOYMENT of each deployment that serves this model version (downstream)."""
        if self._endpoints is None:
            return []
        return [f"{e}/{d}" for e, d, m, v in self._endpoints.served_models() if (m, v) == (name, version)]

    def model(self, name: str, version: str, depth: int = 0) -> LineageNode:
        view = self._models.version_view(self._models.resolve(AssetReference(name, version)))
        node = LineageNode(
            kind="model", id=f"{view.name}:{view.version}", details={"type": view.type, "aliases": view.aliases}
        )
        served_by = self.deployments_serving(view.name, view.version)
        if served_by:
            node.details["served_by"] = served_by
        if view.job and depth < MAX_DEPTH:
            job = self._jobs.find(view.job)
            if job is not None:
                node.upstream.append(self.job(job, depth + 1))
        return node

    def job_named(self, name: str) -> LineageNode:
        return self.job(self._jobs.get(name))

    def job(self, job: JobRow, depth: int = 0) -> LineageNode:
        node = LineageNode(
            kind="job", id=job.name,
            details={"status": job.status, "experiment": job.experiment_name, "created_at": job.created_at.isoformat()},
        )  # fmt: skip
        if job.code_hash:
            node.upstream.append(
                LineageNode(kind="code", id=job.code_hash[:16], details={"content_hash": job.code_hash})
            )
        if job.environment:
            environment = environment_pin(job.environment)
            record = environment.record()
            node.upstream.append(
                LineageNode(
                    kind="environment",
                    id=environment.label,
                    details={
                        "packages": len(environment.lock or []),
                        **{k: v for k, v in record.items() if k != "lock"},
                    },
                )
            )
        for input_name, pinned in sorted(input_pins(job.pinned_inputs).items()):
            node.upstream.append(self._input(input_name, pinned, depth))
        return node

    def _input(self, input_name: str, pinned: InputPin, depth: int) -> LineageNode:
        if isinstance(pinned, ModelPin) and depth < MAX_DEPTH:
            try:
                node = self.model(pinned.name, pinned.version, depth + 1)
            except NotFound:
                node = LineageNode(kind="model", id=f"{pinned.name}:{pinned.version}", details={"missing": True})
        elif isinstance(pinned, DataPin):
            node = LineageNode(kind="data", id=f"{pinned.name}:{pinned.version}", details=pinned.record())
        else:
            digest = pinned.content_hash if isinstance(pinned, UploadPin) else ""
            node = LineageNode(kind="upload", id=digest[:16] or "?", details=pinned.record())
        node.details["input"] = input_name
        return node
