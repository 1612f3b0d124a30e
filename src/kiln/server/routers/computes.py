"""REST for compute targets (``kiln.api.computes``): ``local`` is built in; Ray clusters are registered."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kiln import api
from kiln.server.dependencies import Computes
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.compute import ComputeSpec, ComputeView


def computes_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.computes.CREATE)
    def create_compute(computes: Computes, spec: ComputeSpec, principal: Caller) -> ComputeView:
        return computes.create(spec, principal.name)

    @bind(router, api.computes.LIST)
    def list_computes(computes: Computes) -> list[ComputeView]:
        return computes.list()

    @bind(router, api.computes.SHOW)
    def show_compute(computes: Computes, name: str) -> ComputeView:
        return computes.get(name)

    @bind(router, api.computes.DELETE)
    def delete_compute(computes: Computes, name: str) -> Response:
        computes.delete(name)
        return Response(status_code=204)

    return router
