"""REST for the model registry and lineage (``kiln.api.models``, ``kiln.api.lineage``)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from kiln import api
from kiln.api.models import AliasBody, ModelUpdate
from kiln.api.operation import TAR
from kiln.server.dependencies import Lineage, Models
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.bounded import MAX_LINEAGE_DEPTH
from kiln.specs.model import LineageNode, ModelSpec, ModelVersionView, ModelView
from kiln.specs.model_compare import CompareRequest, ModelComparison


def models_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.models.CREATE)
    def create_model(models: Models, spec: ModelSpec, principal: Caller) -> ModelVersionView:
        return models.create(spec, created_by=principal.name)

    @bind(router, api.models.LIST)
    def list_models(models: Models, include_archived: bool = False) -> list[ModelView]:
        return models.list(include_archived)

    @bind(router, api.models.SHOW)
    def show_model(models: Models, name: str, include_archived: bool = True) -> ModelView:
        return models.get(name, include_archived)

    @bind(router, api.models.UPDATE)
    def update_model(models: Models, name: str, body: ModelUpdate) -> ModelView:
        return models.update(name, body.version, body.description, body.tags)

    @bind(router, api.models.SHOW_VERSION)
    def show_version(models: Models, name: str, version: str) -> ModelVersionView:
        return models.get_version(name, version)

    @bind(router, api.models.ARCHIVE_VERSION)
    def archive_version(models: Models, name: str, version: str) -> ModelVersionView:
        return models.set_archived(name, version, True)

    @bind(router, api.models.RESTORE_VERSION)
    def restore_version(models: Models, name: str, version: str) -> ModelVersionView:
        return models.set_archived(name, version, False)

    @bind(router, api.models.FILES)
    def download_version(models: Models, name: str, version: str) -> StreamingResponse:
        chunks = models.download(name, version)
        headers = {"content-disposition": f'attachment; filename="{name}-{version}.tar"'}
        return StreamingResponse(chunks, media_type=TAR, headers=headers)

    @bind(router, api.models.SET_ALIAS)
    def set_alias(models: Models, name: str, alias: str, body: AliasBody) -> ModelVersionView:
        return models.set_alias(name, alias, body.version)

    @bind(router, api.models.DELETE_ALIAS)
    def delete_alias(models: Models, name: str, alias: str) -> ModelView:
        return models.delete_alias(name, alias)

    @bind(router, api.models.COMPARE)
    def compare_versions(models: Models, name: str, body: CompareRequest, principal: Caller) -> ModelComparison:
        return models.compare(name, body, principal.role)

    @bind(router, api.lineage.MODEL)
    def model_lineage(lineage: Lineage, name: str, version: str) -> LineageNode:
        return lineage.model(name, version)

    @bind(router, api.lineage.JOB)
    def job_lineage(lineage: Lineage, name: str, depth: int = Query(0, ge=0, le=MAX_LINEAGE_DEPTH)) -> LineageNode:
        return lineage.job_named(name)

    return router
