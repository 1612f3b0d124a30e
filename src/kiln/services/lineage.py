"""Lineage: where a model version came from, traced upstream through jobs to data, code,
environments and earlier models (data → job → model → job → model)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiln.errors import NotFound
from kiln.services.models import ModelService
from kiln.specs.model import LineageNode
from kiln.specs.references import AssetReference
from kiln.specs.views import environment_label
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
        environment = job.environment or {}
        if environment:
            label = environment_label(environment)
            lock = environment.get("lock") or []
            node.upstream.append(
                LineageNode(
                    kind="environment",
                    id=label,
                    details={"packages": len(lock), **{k: v for k, v in environment.items() if k != "lock"}},
                )
            )
        for input_name, pinned in sorted((job.pinned_inputs or {}).items()):
            node.upstream.append(self._input(input_name, pinned, depth))
        return node

    def _input(self, input_name: str, pinned: dict[str, object], depth: int) -> LineageNode:
        kind = pinned.get("kind")
        if kind == "model" and depth < MAX_DEPTH:
            try:
                node = self.model(str(pinned["name"]), str(pinned["version"]), depth + 1)
            except NotFound:
                node = LineageNode(kind="model", id=f"{pinned['name']}:{pinned['version']}", details={"missing": True})
        elif kind == "data":
            node = LineageNode(kind="data", id=f"{pinned.get('name')}:{pinned.get('version')}", details=dict(pinned))
        else:
            digest = str(pinned.get("content_hash", ""))
            node = LineageNode(kind="upload", id=digest[:16] or "?", details=dict(pinned))
        node.details["input"] = input_name
        return node
