"""REST for environments, and the environment recorded with a job (``kiln.api.environments``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from kiln import api
from kiln.api.operation import TEXT
from kiln.server.permissions import Caller
from kiln.server.routers import workspace_of
from kiln.server.routes import bind
from kiln.specs.environment import EnvironmentSpec, EnvironmentView


def environments_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.environments.CREATE)
    def create_environment(
        spec: EnvironmentSpec, request: Request, response: Response, principal: Caller
    ) -> EnvironmentView:
        view, created = workspace_of(request).environments.create(spec, created_by=principal.name)
        if not created:
            response.status_code = 200
        return view

    @bind(router, api.environments.LIST)
    def list_environments(request: Request, name: str | None = None) -> list[EnvironmentView]:
        return workspace_of(request).environments.list(name)

    @bind(router, api.environments.SHOW)
    def show_environment(name: str, version: str, request: Request) -> EnvironmentView:
        return workspace_of(request).environments.get(name, version)

    @bind(router, api.environments.LOG)
    def environment_log(
        name: str, version: str, request: Request, follow: bool = Query(False, description="until the build ends")
    ) -> StreamingResponse:
        service = workspace_of(request).environments
        service.get(name, version)  # 404 before the stream starts
        return StreamingResponse(service.follow_log(name, version, follow), media_type=TEXT)

    @bind(router, api.environments.OF_JOB)
    def job_environment(name: str, request: Request) -> dict[str, Any]:
        return workspace_of(request).jobs.recorded_environment(name)

    return router
