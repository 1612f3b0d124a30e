"""REST for compute targets (``kiln.api.computes``): ``local`` is built in; Ray clusters are registered.

Naming a token file is an owner's: the server reads that file with its own rights and sends what it holds to the
address given with it, so a contributor could otherwise have any token-shaped file of the server's machine sent
where they like."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kiln import api
from kiln.server.dependencies import Computes
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.compute import ComputeSpec, ComputeView
from kiln.specs.roles import Role

TOKEN_FILE_ACTION = "naming a token file on the workspace server's machine (token_file)"


def computes_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.computes.CREATE)
    def create_compute(computes: Computes, spec: ComputeSpec, principal: Caller) -> ComputeView:
        if spec.token_file is not None:
            principal.ensure(Role.OWNER, TOKEN_FILE_ACTION)
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
