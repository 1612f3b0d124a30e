"""REST for environments, and the environment recorded with a job (``kiln.api.environments``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from kiln import api
from kiln.api.operation import TEXT
from kiln.server.dependencies import Environments, Jobs
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.environment import EnvironmentSpec, EnvironmentView


def environments_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.environments.CREATE)
    def create_environment(
        environments: Environments, spec: EnvironmentSpec, response: Response, principal: Caller
    ) -> EnvironmentView:
        view, created = environments.create(spec, created_by=principal.name)
        if not created:
            response.status_code = 200
        return view

    @bind(router, api.environments.LIST)
    def list_environments(environments: Environments, name: str | None = None) -> list[EnvironmentView]:
        return environments.list(name)

    @bind(router, api.environments.SHOW)
    def show_environment(environments: Environments, name: str, version: str) -> EnvironmentView:
        return environments.get(name, version)

    @bind(router, api.environments.LOG)
    def environment_log(
        environments: Environments,
        name: str,
        version: str,
        follow: bool = Query(False, description="until the build ends"),
    ) -> StreamingResponse:
        environments.get(name, version)  # 404 before the stream starts
        return StreamingResponse(environments.follow_log(name, version, follow), media_type=TEXT)

    @bind(router, api.environments.OF_JOB)
    def job_environment(jobs: Jobs, name: str) -> dict[str, Any]:
        return jobs.recorded_environment(name)

    return router
