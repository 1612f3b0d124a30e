"""REST for data assets (``kiln.api.data``); content arrives first as an upload."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from kiln import api
from kiln.api.operation import TAR
from kiln.server.dependencies import Data
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.data import DataAssetView, DataSpec


def data_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.data.CREATE)
    def create_data(data: Data, spec: DataSpec, principal: Caller) -> DataAssetView:
        return data.create(spec, created_by=principal.name)

    @bind(router, api.data.LIST)
    def list_data(
        data: Data,
        name: str | None = Query(None, description="Every version of this asset (default: the latest of each)."),
        include_archived: bool = False,
    ) -> list[DataAssetView]:
        return data.list(name, include_archived)

    @bind(router, api.data.SHOW)
    def show_data(data: Data, name: str, version: str) -> DataAssetView:
        return data.get(name, version)

    @bind(router, api.data.CONTENT)
    def data_content(data: Data, name: str, version: str, principal: Caller) -> StreamingResponse:
        arcname, chunks = data.content_archive(name, version, principal.role)
        headers = {"content-disposition": f'attachment; filename="{arcname}.tar"'}
        return StreamingResponse(chunks, media_type=TAR, headers=headers)

    @bind(router, api.data.ARCHIVE)
    def archive_data(data: Data, name: str, version: str | None = None) -> list[DataAssetView]:
        return data.set_archived(name, version, True)

    @bind(router, api.data.RESTORE)
    def restore_data(data: Data, name: str, version: str | None = None) -> list[DataAssetView]:
        return data.set_archived(name, version, False)

    return router
