"""Data: the assets (``/ui/data``), an asset's versions (``/ui/data/NAME``) and a version
(``/ui/data/NAME/VERSION``) with a preview of its first rows (CSV, Parquet, MLTable) or its files."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.server.dependencies import Data
from kiln.server.permissions import Caller
from kiln.services.data import RAW_READER
from kiln.studio.rendering import render


def routes(router: APIRouter) -> None:
    @router.get("/ui/data")
    def data_list(request: Request, data: Data, principal: Caller) -> HTMLResponse:
        principal.ensure(api.data.LIST.role, api.data.LIST.action)
        return render(request, "data/list.html", assets=data.list())

    @router.get("/ui/data/{name}")
    def data_versions(request: Request, name: str, data: Data, principal: Caller) -> HTMLResponse:
        principal.ensure(api.data.LIST.role, api.data.LIST.action)
        return render(request, "data/asset.html", name=name, versions=data.list(name, include_archived=True))

    @router.get("/ui/data/{name}/{version}")
    def data_version(request: Request, name: str, version: str, data: Data, principal: Caller) -> HTMLResponse:
        principal.ensure(api.data.SHOW.role, api.data.SHOW.action)
        asset = data.get(name, version)
        raw_rows = asset.privacy is None or principal.role.allows(RAW_READER)  # a private version's: owners only
        preview = data.preview(name, asset.version, principal.role) if raw_rows else None
        return render(request, "data/version.html", item=asset, preview=preview)
