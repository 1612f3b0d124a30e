"""REST for environments: /api/v1/environments, and the environment recorded with a job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from kiln.server.permissions import requires
from kiln.server.routers import workspace_of
from kiln.services.credentials import Principal
from kiln.specs.environment import EnvironmentSpec, EnvironmentView
from kiln.specs.users import Role


def environments_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["environments"])

    @router.post("/environments", response_model=EnvironmentView, status_code=201)
    def create_environment(
        spec: EnvironmentSpec, request: Request, response: Response,
        principal: Annotated[Principal, requires(Role.CONTRIBUTOR, "creating environments")],
    ) -> EnvironmentView:  # fmt: skip
        """Register a version and start its build (status 'building'; a cache hit is 'ready' at once).

        The same name, version and spec again answers 200 with the existing version."""
        view, created = workspace_of(request).environments.create(spec, created_by=principal.name)
        if not created:
            response.status_code = 200
        return view

    @router.get(
        "/environments",
        response_model=list[EnvironmentView],
        dependencies=[requires(Role.READER, "listing environments")],
    )
    def list_environments(request: Request, name: str | None = None) -> list[EnvironmentView]:
        return workspace_of(request).environments.list(name)

    @router.get(
        "/environments/{name}/versions/{version}", response_model=EnvironmentView,
        dependencies=[requires(Role.READER, "reading environments")],
    )  # fmt: skip
    def show_environment(name: str, version: str, request: Request) -> EnvironmentView:
        """``version`` may be 'latest'."""
        return workspace_of(request).environments.get(name, version)

    @router.get(
        "/environments/{name}/versions/{version}/log", dependencies=[requires(Role.READER, "reading build logs")]
    )
    def environment_log(
        name: str, version: str, request: Request, follow: bool = Query(False, description="until the build ends")
    ) -> StreamingResponse:
        service = workspace_of(request).environments
        service.get(name, version)  # 404 before the stream starts
        return StreamingResponse(service.follow_log(name, version, follow), media_type="text/plain; charset=utf-8")

    @router.get("/jobs/{name}/environment", dependencies=[requires(Role.READER, "reading jobs")])
    def job_environment(name: str, request: Request) -> dict[str, Any]:
        """What the job ran with: kind, name and version or inline spec, hash, python and exact packages."""
        environment: dict[str, Any] = dict(workspace_of(request).jobs.jobs.get(name).environment or {})
        environment.pop("venv", None)
        return environment

    return router
