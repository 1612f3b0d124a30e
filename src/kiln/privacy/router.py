"""The privacy capability's REST routes (roles as declared in :mod:`kiln.privacy.api`; the work is
:class:`kiln.privacy.service.PrivacyService`'s)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from kiln.privacy import api
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.server.routes import bind

Service = Annotated[Any, Depends(capability_service("privacy"))]


def privacy_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.QUERY)
    def query(
        name: str, version: str, request: api.QueryRequest, service: Service, principal: Caller
    ) -> api.QueryAnswer:
        return service.query(name, version, request, principal.name)  # type: ignore[no-any-return]

    @bind(router, api.SYNTHESIZE)
    def synthesize(
        name: str, version: str, request: api.SynthesisRequest, service: Service, principal: Caller
    ) -> api.SynthesisAnswer:
        return service.synthesize(name, version, request, principal.name)  # type: ignore[no-any-return]

    @bind(router, api.BUDGET)
    def budget(name: str, version: str, service: Service) -> api.BudgetView:
        return service.budget(name, version)  # type: ignore[no-any-return]

    return router
