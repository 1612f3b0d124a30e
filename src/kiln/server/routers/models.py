"""REST for the model registry and lineage: /api/v1/models, /api/v1/lineage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from kiln.server.permissions import requires
from kiln.server.routers import workspace_of
from kiln.services.credentials import Principal
from kiln.specs.model import LineageNode, ModelSpec, ModelVersionView, ModelView
from kiln.specs.references import AssetReference
from kiln.specs.users import Role


class AliasBody(BaseModel):
    version: str


class ModelUpdate(BaseModel):
    version: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


def models_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["models"])

    @router.post("/models", response_model=ModelVersionView, status_code=201)
    def create_model(
        spec: ModelSpec,
        request: Request,
        principal: Annotated[Principal, requires(Role.CONTRIBUTOR, "registering models")],
    ) -> ModelVersionView:
        return workspace_of(request).models.create(spec, created_by=principal.name)

    @router.get("/models", response_model=list[ModelView], dependencies=[requires(Role.READER, "listing models")])
    def list_models(request: Request, include_archived: bool = False) -> list[ModelView]:
        return workspace_of(request).models.list(include_archived)

    @router.get("/models/{name}", response_model=ModelView, dependencies=[requires(Role.READER, "reading models")])
    def show_model(name: str, request: Request, include_archived: bool = True) -> ModelView:
        return workspace_of(request).models.get(name, include_archived)

    @router.patch(
        "/models/{name}", response_model=ModelView, dependencies=[requires(Role.CONTRIBUTOR, "updating models")]
    )
    def update_model(name: str, body: ModelUpdate, request: Request) -> ModelView:
        return workspace_of(request).models.update(name, body.version, body.description, body.tags)

    @router.get(
        "/models/{name}/versions/{version}",
        response_model=ModelVersionView,
        dependencies=[requires(Role.READER, "reading models")],
    )
    def show_version(name: str, version: str, request: Request) -> ModelVersionView:
        """``version`` may also be ``latest`` or an alias."""
        service = workspace_of(request).models
        reference = AssetReference(name, version) if version.isdigit() else AssetReference(name, label=version)
        return service.version_view(service.resolve(reference))

    @router.post(
        "/models/{name}/versions/{version}/archive", response_model=ModelVersionView,
        dependencies=[requires(Role.CONTRIBUTOR, "archiving models")],
    )  # fmt: skip
    def archive_version(name: str, version: str, request: Request) -> ModelVersionView:
        return workspace_of(request).models.set_archived(name, version, True)

    @router.post(
        "/models/{name}/versions/{version}/restore", response_model=ModelVersionView,
        dependencies=[requires(Role.CONTRIBUTOR, "restoring models")],
    )  # fmt: skip
    def restore_version(name: str, version: str, request: Request) -> ModelVersionView:
        return workspace_of(request).models.set_archived(name, version, False)

    @router.get("/models/{name}/versions/{version}/files", dependencies=[requires(Role.READER, "downloading models")])
    def download_version(name: str, version: str, request: Request) -> StreamingResponse:
        """The version's files as an uncompressed tar whose top folder is the model's name."""
        workspace = workspace_of(request)
        workspace.models.version_view(workspace.models.resolve(AssetReference(name, version)))  # 404 before streaming
        headers = {"content-disposition": f'attachment; filename="{name}-{version}.tar"'}
        return StreamingResponse(
            workspace.models.download(name, version), media_type="application/x-tar", headers=headers
        )

    @router.put(
        "/models/{name}/aliases/{alias}",
        response_model=ModelVersionView,
        dependencies=[requires(Role.CONTRIBUTOR, "setting model aliases")],
    )
    def set_alias(name: str, alias: str, body: AliasBody, request: Request) -> ModelVersionView:
        return workspace_of(request).models.set_alias(name, alias, body.version)

    @router.delete(
        "/models/{name}/aliases/{alias}",
        response_model=ModelView,
        dependencies=[requires(Role.CONTRIBUTOR, "deleting model aliases")],
    )
    def delete_alias(name: str, alias: str, request: Request) -> ModelView:
        return workspace_of(request).models.delete_alias(name, alias)

    @router.get(
        "/lineage/model/{name}/{version}",
        response_model=LineageNode,
        dependencies=[requires(Role.READER, "reading lineage")],
    )
    def model_lineage(name: str, version: str, request: Request) -> LineageNode:
        return workspace_of(request).lineage.model(name, version)

    @router.get(
        "/lineage/job/{name}", response_model=LineageNode, dependencies=[requires(Role.READER, "reading lineage")]
    )
    def job_lineage(name: str, request: Request, depth: int = Query(0, ge=0)) -> LineageNode:
        workspace = workspace_of(request)
        return workspace.lineage.job(workspace.jobs.jobs.get(name))

    return router
