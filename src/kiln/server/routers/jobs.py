"""REST for jobs and uploads (``kiln.api.jobs``, ``kiln.api.uploads``)."""

from __future__ import annotations

import tempfile
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from kiln import api
from kiln.api.operation import TAR, TEXT
from kiln.server.dependencies import Jobs, Uploads
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.job import JobSpecBase
from kiln.specs.job_kinds import job_spec_body
from kiln.specs.views import JobMetricsView, JobStatus, JobView, UploadView


def jobs_router() -> APIRouter:
    """The job routes; the body of POST /jobs is a job of any kind registered when the app is made."""
    router = APIRouter()

    @bind(router, api.uploads.CREATE)
    async def upload(
        uploads: Uploads, request: Request, kind: str = Query("folder", description="'folder' or 'file'")
    ) -> UploadView:
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as body:
            async for chunk in request.stream():
                body.write(chunk)
            body.seek(0)
            return await run_in_threadpool(uploads.receive, body, kind)

    def create_job(jobs: Jobs, spec: JobSpecBase, principal: Caller) -> JobView:
        """Submit a job of any registered kind (``type``; ``command`` when left out)."""
        return jobs.submit(spec, created_by=principal.name)

    create_job.__annotations__["spec"] = Annotated[job_spec_body(), Body()]  # the kinds registered now
    bind(router, api.jobs.CREATE)(create_job)

    @bind(router, api.jobs.LIST)
    def list_jobs(
        jobs: Jobs, status: JobStatus | None = None, limit: int = Query(100, ge=1, le=10_000)
    ) -> list[JobView]:
        return jobs.list(status, limit)

    @bind(router, api.jobs.SHOW)
    def show_job(
        jobs: Jobs, name: str, run_data: bool = Query(False, description="include MLflow params and metrics")
    ) -> JobView:
        return jobs.get(name, with_run_data=run_data)

    @bind(router, api.jobs.RERUN)
    def rerun_job(jobs: Jobs, name: str, principal: Caller) -> JobView:
        return jobs.rerun(name, created_by=principal.name)

    @bind(router, api.jobs.CANCEL)
    def cancel_job(jobs: Jobs, name: str) -> JobView:
        return jobs.cancel(name)

    @bind(router, api.jobs.LOGS)
    def job_logs(jobs: Jobs, name: str, follow: bool = False) -> StreamingResponse:
        return StreamingResponse(jobs.follow_log(name, follow), media_type=TEXT)

    @bind(router, api.jobs.METRICS)
    def job_metrics(jobs: Jobs, name: str) -> Response:
        view = JobMetricsView(metrics=jobs.metric_histories(name))
        # pydantic's own JSON writes NaN and infinities as strings, which FastAPI's encoder would refuse
        return Response(view.model_dump_json(), media_type="application/json")

    @bind(router, api.jobs.OUTPUT)
    def job_output(jobs: Jobs, name: str, output: str) -> StreamingResponse:
        arcname, chunks = jobs.output_archive(name, output)
        headers = {"content-disposition": f'attachment; filename="{arcname}.tar"'}
        return StreamingResponse(chunks, media_type=TAR, headers=headers)

    return router
