"""REST for compute targets: /api/v1/computes (``local`` is built in; Ray clusters are registered)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from kiln.server.permissions import requires
from kiln.server.routers import workspace_of
from kiln.services.credentials import Principal
from kiln.specs.compute import ComputeSpec, ComputeView
from kiln.specs.users import Role


def computes_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/computes", tags=["computes"])

    @router.post("", response_model=ComputeView, status_code=201)
    def create_compute(
        spec: ComputeSpec,
        request: Request,
        principal: Annotated[Principal, requires(Role.CONTRIBUTOR, "registering compute targets")],
    ) -> ComputeView:
        """Register a Ray cluster by its dashboard URL; refused (503, nothing recorded) if it does not answer."""
        return workspace_of(request).computes.create(spec, principal.name)

    @router.get("", response_model=list[ComputeView], dependencies=[requires(Role.READER, "listing compute targets")])
    def list_computes(request: Request) -> list[ComputeView]:
        """Every target with its capacity and use (a cluster that does not answer has ``problem`` set)."""
        return workspace_of(request).computes.list()

    @router.get("/{name}", response_model=ComputeView, dependencies=[requires(Role.READER, "reading compute targets")])
    def show_compute(name: str, request: Request) -> ComputeView:
        return workspace_of(request).computes.get(name)

    @router.delete("/{name}", status_code=204, dependencies=[requires(Role.CONTRIBUTOR, "deleting compute targets")])
    def delete_compute(name: str, request: Request) -> Response:
        """Forget a Ray cluster (the cluster itself is untouched); refused while kiln jobs wait for or run on it."""
        workspace_of(request).computes.delete(name)
        return Response(status_code=204)

    return router
