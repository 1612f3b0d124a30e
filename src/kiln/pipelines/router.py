"""REST for the pipelines capability (``kiln.pipelines.api``): thin, the service does the work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from kiln.pipelines import api
from kiln.pipelines.component import ComponentSpec
from kiln.pipelines.service import PipelineService
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.server.routes import bind

Service = Annotated[PipelineService, Depends(capability_service("pipelines"))]


def pipelines_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.CREATE)
    def create(body: ComponentSpec, service: Service, principal: Caller) -> api.ComponentView:
        return service.create_component(body, created_by=principal.name)

    @bind(router, api.LIST)
    def list_components(
        service: Service,
        name: str | None = Query(None, description="Every version of this component (default: the latest of each)."),
    ) -> list[api.ComponentView]:
        return service.list_components(name)

    @bind(router, api.SHOW)
    def show(name: str, version: str, service: Service) -> api.ComponentView:
        return service.get_component(name, version)

    return router
