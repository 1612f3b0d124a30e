"""REST for data assets (``kiln.api.data``); content arrives first as an upload."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from kiln import api
from kiln.api.operation import TAR
from kiln.server.permissions import Caller
from kiln.server.routers import workspace_of
from kiln.server.routes import bind
from kiln.services.data import DataService
from kiln.specs.data import DataAssetView, DataSpec


def _data(request: Request) -> DataService:
    return workspace_of(request).data


def data_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.data.CREATE)
    def create_data(spec: DataSpec, request: Request, principal: Caller) -> DataAssetView:
        return _data(request).create(spec, created_by=principal.name)

    @bind(router, api.data.LIST)
    def list_data(
        request: Request,
        name: str | None = Query(None, description="Every version of this asset (default: the latest of each)."),
        include_archived: bool = False,
    ) -> list[DataAssetView]:
        return _data(request).list(name, include_archived)

    @bind(router, api.data.SHOW)
    def show_data(name: str, version: str, request: Request) -> DataAssetView:
        return _data(request).get(name, version)

    @bind(router, api.data.CONTENT)
    def data_content(name: str, version: str, request: Request) -> StreamingResponse:
        arcname, chunks = _data(request).content_archive(name, version)
        headers = {"content-disposition": f'attachment; filename="{arcname}.tar"'}
        return StreamingResponse(chunks, media_type=TAR, headers=headers)

    @bind(router, api.data.ARCHIVE)
    def archive_data(name: str, request: Request, version: str | None = None) -> list[DataAssetView]:
        return _data(request).set_archived(name, version, True)

    @bind(router, api.data.RESTORE)
    def restore_data(name: str, request: Request, version: str | None = None) -> list[DataAssetView]:
        return _data(request).set_archived(name, version, False)

    return router
