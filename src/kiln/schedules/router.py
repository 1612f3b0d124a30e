"""REST for the schedules capability (``kiln.schedules.api``): thin, the service does the work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from kiln.schedules import api
from kiln.schedules.service import ScheduleService
from kiln.schedules.spec import ScheduleSpec
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.server.routes import bind

Service = Annotated[ScheduleService, Depends(capability_service("schedules"))]


def schedules_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.CREATE)
    def create(body: ScheduleSpec, service: Service, principal: Caller) -> api.ScheduleView:
        return service.create(body, created_by=principal.name, role=principal.role)

    @bind(router, api.LIST)
    def list_schedules(service: Service) -> list[api.ScheduleView]:
        return service.list()

    @bind(router, api.SHOW)
    def show(name: str, service: Service) -> api.ScheduleView:
        return service.show(name)

    @bind(router, api.DISABLE)
    def disable(name: str, service: Service) -> api.ScheduleView:
        return service.disable(name)

    @bind(router, api.ENABLE)
    def enable(name: str, service: Service) -> api.ScheduleView:
        return service.enable(name)

    @bind(router, api.DELETE)
    def delete(name: str, service: Service) -> Response:
        service.delete(name)
        return Response(status_code=204)

    return router
