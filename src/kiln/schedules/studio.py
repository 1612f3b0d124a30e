"""kiln studio's schedules page (``/ui/schedules``): every schedule with its state, trigger, next run and last run
(its job linked to the job's page), read with the role of ``schedules.list``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from kiln.schedules import api
from kiln.schedules.service import ScheduleService
from kiln.schedules.text import state_text, trigger_text
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.studio.pages import StudioPage
from kiln.studio.rendering import render

PAGES = (StudioPage("schedules", "Schedules", "kiln.schedules.studio:routes", order=13),)
Service = Annotated[ScheduleService, Depends(capability_service("schedules"))]


def routes(router: APIRouter) -> None:
    @router.get("/ui/schedules")
    def schedules(request: Request, service: Service, principal: Caller) -> HTMLResponse:
        principal.ensure(api.LIST.role, api.LIST.action)
        listed = [
            {"view": view, "state": state_text(view), "trigger": trigger_text(view.trigger)} for view in service.list()
        ]
        return render(request, "schedules/list.html", schedules=listed)
