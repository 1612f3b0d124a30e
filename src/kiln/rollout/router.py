"""REST for the rollout capability (``kiln.rollout.api``): thin, the service does the work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from kiln.rollout import api
from kiln.rollout.service import RolloutService
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.server.routes import bind

Service = Annotated[RolloutService, Depends(capability_service("rollout"))]


def rollout_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.START)
    def start(name: str, body: api.RolloutRequest, service: Service, principal: Caller) -> api.RolloutView:
        return service.start(name, body, started_by=principal.name)

    @bind(router, api.SHOW)
    def show(name: str, service: Service) -> api.RolloutView:
        return service.show(name)

    @bind(router, api.CANCEL)
    def cancel(name: str, service: Service) -> api.RolloutView:
        return service.cancel(name)

    return router
