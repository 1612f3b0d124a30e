"""REST for the model registry and lineage (``kiln.api.models``, ``kiln.api.lineage``)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from kiln import api
from kiln.api.models import AliasBody, ModelUpdate
from kiln.api.operation import TAR
from kiln.server.permissions import Caller
from kiln.server.routers import workspace_of
from kiln.server.routes import bind
from kiln.specs.model import LineageNode, ModelSpec, ModelVersionView, ModelView


def models_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.models.CREATE)
    def create_model(spec: ModelSpec, request: Request, principal: Caller) -> ModelVersionView:
        return workspace_of(request).models.create(spec, created_by=principal.name)

    @bind(router, api.models.LIST)
    def list_models(request: Request, include_archived: bool = False) -> list[ModelView]:
        return workspace_of(request).models.list(include_archived)

    @bind(router, api.models.SHOW)
    def show_model(name: str, request: Request, include_archived: bool = True) -> ModelView:
        return workspace_of(request).models.get(name, include_archived)

    @bind(router, api.models.UPDATE)
    def update_model(name: str, body: ModelUpdate, request: Request) -> ModelView:
        return workspace_of(request).models.update(name, body.version, body.description, body.tags)

    @bind(router, api.models.SHOW_VERSION)
    def show_version(name: str, version: str, request: Request) -> ModelVersionView:
        return workspace_of(request).models.get_version(name, version)

    @bind(router, api.models.ARCHIVE_VERSION)
    def archive_version(name: str, version: str, request: Request) -> ModelVersionView:
        return workspace_of(request).models.set_archived(name, version, True)

    @bind(router, api.models.RESTORE_VERSION)
    def restore_version(name: str, version: str, request: Request) -> ModelVersionView:
        return workspace_of(request).models.set_archived(name, version, False)

    @bind(router, api.models.FILES)
    def download_version(name: str, version: str, request: Request) -> StreamingResponse:
        chunks = workspace_of(request).models.download(name, version)
        headers = {"content-disposition": f'attachment; filename="{name}-{version}.tar"'}
        return StreamingResponse(chunks, media_type=TAR, headers=headers)

    @bind(router, api.models.SET_ALIAS)
    def set_alias(name: str, alias: str, body: AliasBody, request: Request) -> ModelVersionView:
        return workspace_of(request).models.set_alias(name, alias, body.version)

    @bind(router, api.models.DELETE_ALIAS)
    def delete_alias(name: str, alias: str, request: Request) -> ModelView:
        return workspace_of(request).models.delete_alias(name, alias)

    @bind(router, api.lineage.MODEL)
    def model_lineage(name: str, version: str, request: Request) -> LineageNode:
        return workspace_of(request).lineage.model(name, version)

    @bind(router, api.lineage.JOB)
    def job_lineage(name: str, request: Request, depth: int = Query(0, ge=0)) -> LineageNode:
        return workspace_of(request).lineage.job_named(name)

    return router
