"""REST for jobs and uploads: /api/v1/jobs, /api/v1/uploads."""

from __future__ import annotations

import tempfile
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from kiln.server.permissions import requires
from kiln.server.routers import workspace_of
from kiln.services.credentials import Principal
from kiln.specs.job import JobSpecBase
from kiln.specs.job_kinds import job_spec_body
from kiln.specs.users import Role
from kiln.specs.views import JobMetricsView, JobStatus, JobView, UploadView


def jobs_router() -> APIRouter:
    """The job routes; the body of POST /jobs is a job of any kind registered when the app is made."""
    router = APIRouter(prefix="/api/v1", tags=["jobs"])

    @router.post(
        "/uploads",
        response_model=UploadView,
        status_code=201,
        dependencies=[requires(Role.CONTRIBUTOR, "uploading files")],
    )
    async def upload(request: Request, kind: str = Query("folder", description="'folder' or 'file'")) -> UploadView:
        """Send a tar archive (optionally gzipped) of a code folder or input; get a reference to use in a job."""
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as body:
            async for chunk in request.stream():
                body.write(chunk)
            body.seek(0)
            return await run_in_threadpool(workspace_of(request).uploads.receive, body, kind)

    def create_job(
        spec: JobSpecBase,
        request: Request,
        principal: Annotated[Principal, requires(Role.CONTRIBUTOR, "creating jobs")],
    ) -> JobView:
        """Submit a job of any registered kind (``type``; ``command`` when left out)."""
        return workspace_of(request).jobs.submit(spec, created_by=principal.name)

    create_job.__annotations__["spec"] = Annotated[job_spec_body(), Body()]  # the kinds registered now
    router.post("/jobs", response_model=JobView, status_code=201)(create_job)

    @router.get("/jobs", response_model=list[JobView], dependencies=[requires(Role.READER, "listing jobs")])
    def list_jobs(
        request: Request, status: JobStatus | None = None, limit: int = Query(100, ge=1, le=10_000)
    ) -> list[JobView]:
        return workspace_of(request).jobs.list(status, limit)

    @router.get("/jobs/{name}", response_model=JobView, dependencies=[requires(Role.READER, "reading jobs")])
    def show_job(
        name: str, request: Request, run_data: bool = Query(False, description="include MLflow params and metrics")
    ) -> JobView:
        return workspace_of(request).jobs.get(name, with_run_data=run_data)

    @router.post("/jobs/{name}/rerun", response_model=JobView, status_code=201)
    def rerun_job(
        name: str, request: Request, principal: Annotated[Principal, requires(Role.CONTRIBUTOR, "rerunning jobs")]
    ) -> JobView:
        """A new job with the same spec, code snapshot, pinned inputs and recorded environment (exact pins)."""
        return workspace_of(request).jobs.rerun(name, created_by=principal.name)

    @router.post(
        "/jobs/{name}/cancel", response_model=JobView, dependencies=[requires(Role.CONTRIBUTOR, "canceling jobs")]
    )
    def cancel_job(name: str, request: Request) -> JobView:
        return workspace_of(request).jobs.cancel(name)

    @router.get("/jobs/{name}/logs", dependencies=[requires(Role.READER, "reading job logs")])
    def job_logs(name: str, request: Request, follow: bool = False) -> StreamingResponse:
        chunks = workspace_of(request).jobs.follow_log(name, follow)  # 404 before the stream starts
        return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")

    @router.get(
        "/jobs/{name}/metrics", response_model=JobMetricsView, dependencies=[requires(Role.READER, "reading metrics")]
    )
    def job_metrics(name: str, request: Request) -> Response:
        """Every value of every MLflow metric of the job, with its step and timestamp."""
        view = JobMetricsView(metrics=workspace_of(request).jobs.metric_histories(name))
        # pydantic's own JSON writes NaN and infinities as strings, which FastAPI's encoder would refuse
        return Response(view.model_dump_json(), media_type="application/json")

    @router.get("/jobs/{name}/outputs/{output}", dependencies=[requires(Role.READER, "downloading job outputs")])
    def job_output(name: str, output: str, request: Request) -> StreamingResponse:
        """The output as an uncompressed tar whose top folder is the output's name. Outputs 'default' and
        'logs' are the job's ./outputs and ./logs; 'logs' can be read while the job runs."""
        arcname, chunks = workspace_of(request).jobs.output_archive(name, output)
        headers = {"content-disposition": f'attachment; filename="{arcname}.tar"'}
        return StreamingResponse(chunks, media_type="application/x-tar", headers=headers)

    return router
