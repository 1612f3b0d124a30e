"""REST for compute targets (``kiln.api.computes``): ``local`` is built in; Ray clusters are registered."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from kiln import api
from kiln.server.permissions import Caller
from kiln.server.routers import workspace_of
from kiln.server.routes import bind
from kiln.specs.compute import ComputeSpec, ComputeView


def computes_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.computes.CREATE)
    def create_compute(spec: ComputeSpec, request: Request, principal: Caller) -> ComputeView:
        return workspace_of(request).computes.create(spec, principal.name)

    @bind(router, api.computes.LIST)
    def list_computes(request: Request) -> list[ComputeView]:
        return workspace_of(request).computes.list()

    @bind(router, api.computes.SHOW)
    def show_compute(name: str, request: Request) -> ComputeView:
        return workspace_of(request).computes.get(name)

    @bind(router, api.computes.DELETE)
    def delete_compute(name: str, request: Request) -> Response:
        workspace_of(request).computes.delete(name)
        return Response(status_code=204)

    return router
