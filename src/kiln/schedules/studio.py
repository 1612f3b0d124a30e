"""kiln studio's schedules page (``/ui/schedules``): every schedule with its state, trigger, next run and last run
(its job linked to the job's page), read with the role of ``schedules.list``. Whoever may change schedules
(``schedules.enable``/``disable``'s role) gets an Enable or Disable button on each: the browser calls those REST
routes itself, with the session cookie and the page's CSRF token (``static/studio.js``'s ``data-kiln-post``). A
disabled schedule whose creator may no longer submit jobs gets no Enable button: the server would refuse it (its
reason is the state's tooltip)."""

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
        can_change = principal.role.allows(api.ENABLE.role) and principal.role.allows(api.DISABLE.role)
        listed = [
            {
                "view": view, "state": state_text(view), "trigger": trigger_text(view.trigger),
                "can_enable": can_change and not view.enabled and service.creator_refusal(view.created_by) is None,
            }
            for view in service.list()
        ]  # fmt: skip
        return render(request, "schedules/list.html", schedules=listed, can_change=can_change)
