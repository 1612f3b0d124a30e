"""REST for jobs and uploads (``kiln.api.jobs``, ``kiln.api.uploads``)."""

from __future__ import annotations

import tempfile
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from kiln import api
from kiln.api.operation import TAR, TEXT
from kiln.server.permissions import Caller
from kiln.server.routers import workspace_of
from kiln.server.routes import bind
from kiln.specs.job import JobSpecBase
from kiln.specs.job_kinds import job_spec_body
from kiln.specs.views import JobMetricsView, JobStatus, JobView, UploadView


def jobs_router() -> APIRouter:
    """The job routes; the body of POST /jobs is a job of any kind registered when the app is made."""
    router = APIRouter()

    @bind(router, api.uploads.CREATE)
    async def upload(request: Request, kind: str = Query("folder", description="'folder' or 'file'")) -> UploadView:
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as body:
            async for chunk in request.stream():
                body.write(chunk)
            body.seek(0)
            return await run_in_threadpool(workspace_of(request).uploads.receive, body, kind)

    def create_job(spec: JobSpecBase, request: Request, principal: Caller) -> JobView:
        """Submit a job of any registered kind (``type``; ``command`` when left out)."""
        return workspace_of(request).jobs.submit(spec, created_by=principal.name)

    create_job.__annotations__["spec"] = Annotated[job_spec_body(), Body()]  # the kinds registered now
    bind(router, api.jobs.CREATE)(create_job)

    @bind(router, api.jobs.LIST)
    def list_jobs(
        request: Request, status: JobStatus | None = None, limit: int = Query(100, ge=1, le=10_000)
    ) -> list[JobView]:
        return workspace_of(request).jobs.list(status, limit)

    @bind(router, api.jobs.SHOW)
    def show_job(
        name: str, request: Request, run_data: bool = Query(False, description="include MLflow params and metrics")
    ) -> JobView:
        return workspace_of(request).jobs.get(name, with_run_data=run_data)

    @bind(router, api.jobs.RERUN)
    def rerun_job(name: str, request: Request, principal: Caller) -> JobView:
        return workspace_of(request).jobs.rerun(name, created_by=principal.name)

    @bind(router, api.jobs.CANCEL)
    def cancel_job(name: str, request: Request) -> JobView:
        return workspace_of(request).jobs.cancel(name)

    @bind(router, api.jobs.LOGS)
    def job_logs(name: str, request: Request, follow: bool = False) -> StreamingResponse:
        return StreamingResponse(workspace_of(request).jobs.follow_log(name, follow), media_type=TEXT)

    @bind(router, api.jobs.METRICS)
    def job_metrics(name: str, request: Request) -> Response:
        view = JobMetricsView(metrics=workspace_of(request).jobs.metric_histories(name))
        # pydantic's own JSON writes NaN and infinities as strings, which FastAPI's encoder would refuse
        return Response(view.model_dump_json(), media_type="application/json")

    @bind(router, api.jobs.OUTPUT)
    def job_output(name: str, output: str, request: Request) -> StreamingResponse:
        arcname, chunks = workspace_of(request).jobs.output_archive(name, output)
        headers = {"content-disposition": f'attachment; filename="{arcname}.tar"'}
        return StreamingResponse(chunks, media_type=TAR, headers=headers)

    return router
