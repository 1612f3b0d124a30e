"""REST for data assets: /api/v1/data (content arrives first through /api/v1/uploads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from kiln.server.permissions import requires
from kiln.server.routers import workspace_of
from kiln.services.credentials import Principal
from kiln.services.data import DataService
from kiln.specs.data import DataAssetView, DataSpec
from kiln.specs.users import Role


def _data(request: Request) -> DataService:
    return workspace_of(request).data


def data_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/data", tags=["data"])

    @router.post("", response_model=DataAssetView, status_code=201)
    def create_data(
        spec: DataSpec,
        request: Request,
        principal: Annotated[Principal, requires(Role.CONTRIBUTOR, "creating data assets")],
    ) -> DataAssetView:
        """Record a version whose ``path`` is an ``upload:<hash>`` reference; the same content again is a no-op."""
        return _data(request).create(spec, created_by=principal.name)

    @router.get("", response_model=list[DataAssetView], dependencies=[requires(Role.READER, "listing data assets")])
    def list_data(
        request: Request,
        name: str | None = Query(None, description="Every version of this asset (default: the latest of each)."),
        include_archived: bool = False,
    ) -> list[DataAssetView]:
        return _data(request).list(name, include_archived)

    @router.get(
        "/{name}/versions/{version}",
        response_model=DataAssetView,
        dependencies=[requires(Role.READER, "reading data assets")],
    )
    def show_data(name: str, version: str, request: Request) -> DataAssetView:
        """One version; ``latest`` is the newest that is not archived."""
        return _data(request).get(name, version)

    @router.get("/{name}/versions/{version}/content", dependencies=[requires(Role.READER, "downloading data assets")])
    def data_content(name: str, version: str, request: Request) -> StreamingResponse:
        """The version's files as an uncompressed tar whose top folder is the asset's name."""
        arcname, chunks = _data(request).content_archive(name, version)
        headers = {"content-disposition": f'attachment; filename="{arcname}.tar"'}
        return StreamingResponse(chunks, media_type="application/x-tar", headers=headers)

    @router.post(
        "/{name}/archive",
        response_model=list[DataAssetView],
        dependencies=[requires(Role.CONTRIBUTOR, "archiving data assets")],
    )
    def archive_data(name: str, request: Request, version: str | None = None) -> list[DataAssetView]:
        """Hide one version (or all) from listings and ``@latest``; explicit references keep working."""
        return _data(request).set_archived(name, version, True)

    @router.post(
        "/{name}/restore",
        response_model=list[DataAssetView],
        dependencies=[requires(Role.CONTRIBUTOR, "restoring data assets")],
    )
    def restore_data(name: str, request: Request, version: str | None = None) -> list[DataAssetView]:
        return _data(request).set_archived(name, version, False)

    return router
