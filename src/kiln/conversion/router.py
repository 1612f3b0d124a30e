"""REST for the conversion capability (``kiln.conversion.api``): thin, the service does the work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from kiln.conversion import api
from kiln.conversion.service import ConversionService
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.views import JobView

Service = Annotated[ConversionService, Depends(capability_service("conversion"))]


def conversion_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.CONVERT)
    def convert(name: str, version: str, body: api.ConvertRequest, service: Service, principal: Caller) -> JobView:
        return service.convert(name, version, body, created_by=principal.name)

    return router
