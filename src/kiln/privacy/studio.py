"""kiln studio's privacy pages: the private data versions (``/ui/privacy``) and a version's budget with its
ledger of charges (``/ui/privacy/NAME/VERSION``), read with the role of ``privacy.budget`` (readers). A
version's raw rows stay on the data page, for owners only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from kiln import api as core_api
from kiln.privacy import api
from kiln.server.capabilities import capability_service
from kiln.server.dependencies import Data
from kiln.server.permissions import Caller
from kiln.studio.pages import StudioPage
from kiln.studio.rendering import render

PAGES = (StudioPage("privacy", "Privacy", "kiln.privacy.studio:routes", order=27),)
Service = Annotated[Any, Depends(capability_service("privacy"))]


def routes(router: APIRouter) -> None:
    @router.get("/ui/privacy")
    def private_versions(request: Request, data: Data, principal: Caller) -> HTMLResponse:
        principal.ensure(core_api.data.LIST.role, core_api.data.LIST.action)
        versions = [v for asset in data.list() for v in data.list(asset.name) if v.privacy is not None]
        return render(request, "privacy/list.html", versions=versions)

    @router.get("/ui/privacy/{name}/{version}")
    def budget(request: Request, name: str, version: str, service: Service, principal: Caller) -> HTMLResponse:
        principal.ensure(api.BUDGET.role, api.BUDGET.action)
        return render(request, "privacy/budget.html", budget=service.budget(name, version))
