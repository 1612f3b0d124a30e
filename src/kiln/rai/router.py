"""The responsible AI capability's REST routes: a job's report, a model's analyses (roles as declared in
:mod:`kiln.rai.api`; the work is :class:`kiln.rai.service.RaiService`'s)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from kiln.rai import api
from kiln.rai.report_schema import RaiReport
from kiln.server.capabilities import capability_service
from kiln.server.routes import bind

Service = Annotated[Any, Depends(capability_service("rai"))]


def rai_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.REPORT)
    def report(name: str, service: Service) -> RaiReport:
        return service.report(name)  # type: ignore[no-any-return]

    @bind(router, api.ANALYSES)
    def analyses(service: Service, model: str | None = None) -> list[api.AnalysisView]:
        return service.analyses(model)  # type: ignore[no-any-return]

    return router
