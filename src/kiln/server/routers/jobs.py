"""REST for jobs and uploads (``kiln.api.jobs``, ``kiln.api.uploads``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from kiln import api
from kiln.api.operation import BYTES, EVENT_STREAM, TAR, TEXT
from kiln.errors import InvalidSpec
from kiln.server.dependencies import Jobs, Uploads
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.specs.job import JobSpecBase
from kiln.specs.job_kinds import job_spec_body
from kiln.specs.tag_filters import parse_tag_filters
from kiln.specs.views import JobFilesView, JobMetricsView, JobPlanView, JobStatus, JobView, UploadView
from kiln.store.jobs import SORTS, JobFilters


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
        return jobs.submit(spec, created_by=principal.name, role=principal.role)

    create_job.__annotations__["spec"] = Annotated[job_spec_body(), Body()]  # the kinds registered now
    bind(router, api.jobs.CREATE)(create_job)

    def validate_job(jobs: Jobs, spec: JobSpecBase, principal: Caller) -> JobPlanView:
        """A dry run of a submit: every check, nothing recorded."""
        return jobs.validate(spec, created_by=principal.name, role=principal.role)

    validate_job.__annotations__["spec"] = Annotated[job_spec_body(), Body()]
    bind(router, api.jobs.VALIDATE)(validate_job)

    @bind(router, api.jobs.LIST)
    def list_jobs(
        jobs: Jobs,
        response: Response,
        status: Annotated[list[JobStatus] | None, Query()] = None,
        limit: int = Query(100, ge=1, le=10_000),
        experiment: str | None = None,
        created_by: str | None = None,
        compute: str | None = None,
        tag: Annotated[
            list[str] | None, Query(description="key=value, or key: has the tag; repeat for several")
        ] = None,
        q: str | None = Query(None, description="in the job's name or display name"),
        sort: str | None = Query(None, description="created, duration, name or status; '-' first: descending"),
        offset: int | None = Query(None, ge=0),
    ) -> list[JobView]:
        searching = any(v is not None for v in (experiment, created_by, compute, tag, q, sort, offset))
        if not searching and (status is None or len(status) == 1):
            return jobs.list(status[0] if status else None, limit)
        filters = job_filters(status, experiment, created_by, compute, tag, q)
        order, descending = parse_sort(sort or "-created")
        views, total = jobs.search(filters, order, descending, offset or 0, limit)
        response.headers["X-Total-Count"] = str(total)
        return views

    @bind(router, api.jobs.SHOW)
    def show_job(
        jobs: Jobs, name: str, run_data: bool = Query(False, description="include MLflow params and metrics")
    ) -> JobView:
        return jobs.get(name, with_run_data=run_data)

    @bind(router, api.jobs.RERUN)
    def rerun_job(jobs: Jobs, name: str, principal: Caller) -> JobView:
        return jobs.rerun(name, created_by=principal.name, role=principal.role)

    @bind(router, api.jobs.CANCEL)
    def cancel_job(jobs: Jobs, name: str) -> JobView:
        return jobs.cancel(name)

    @bind(router, api.jobs.LOGS)
    def job_logs(jobs: Jobs, name: str, principal: Caller, follow: bool = False) -> StreamingResponse:
        jobs.ensure_outputs_readable(name, principal.role)
        return StreamingResponse(jobs.follow_log(name, follow), media_type=TEXT)

    @bind(router, api.jobs.METRICS)
    def job_metrics(
        jobs: Jobs, name: str,
        max_points: int | None = Query(None, ge=8, le=100_000, description="thin each series to this many"),
        since_step: int | None = Query(None, description="only points after this step"),
        since_time: int | None = Query(None, description="only points after this time (ms since the epoch)"),
    ) -> Response:  # fmt: skip
        if max_points is None and since_step is None and since_time is None:
            histories = jobs.metric_histories(name)
        else:
            histories = jobs.metric_series(name, max_points, since_step, since_time)
        view = JobMetricsView(metrics=histories)
        # pydantic's own JSON writes NaN and infinities as strings, which FastAPI's encoder would refuse
        return Response(view.model_dump_json(), media_type="application/json")

    @bind(router, api.jobs.METRIC_STREAM)
    def job_metric_stream(jobs: Jobs, name: str, max_points: int = Query(1000, ge=8, le=100_000)) -> StreamingResponse:
        headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
        return StreamingResponse(jobs.metric_events(name, max_points), media_type=EVENT_STREAM, headers=headers)

    @bind(router, api.jobs.CODE_FILES)
    def job_code_files(jobs: Jobs, name: str) -> JobFilesView:
        return JobFilesView(files=jobs.code_files(name))

    @bind(router, api.jobs.CODE_FILE)
    def job_code_file(jobs: Jobs, name: str, path: str) -> StreamingResponse:
        return _file(jobs.code_file(name, path), path)

    @bind(router, api.jobs.OUTPUT_FILES)
    def job_output_files(jobs: Jobs, name: str, output: str, principal: Caller) -> JobFilesView:
        jobs.ensure_outputs_readable(name, principal.role)
        return JobFilesView(files=jobs.output_files(name, output))

    @bind(router, api.jobs.OUTPUT_FILE)
    def job_output_file(jobs: Jobs, name: str, output: str, path: str, principal: Caller) -> StreamingResponse:
        jobs.ensure_outputs_readable(name, principal.role)
        return _file(jobs.output_file(name, output, path), path)

    @bind(router, api.jobs.OUTPUT)
    def job_output(jobs: Jobs, name: str, output: str, principal: Caller) -> StreamingResponse:
        jobs.ensure_outputs_readable(name, principal.role)
        arcname, chunks = jobs.output_archive(name, output)
        headers = {"content-disposition": f'attachment; filename="{arcname}.tar"'}
        return StreamingResponse(chunks, media_type=TAR, headers=headers)

    return router


def _file(handle: Any, path: str) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(1 << 20):
                yield chunk

    filename = path.rsplit("/", 1)[-1].replace('"', "")
    headers = {"content-disposition": f'attachment; filename="{filename}"', "x-content-type-options": "nosniff"}
    return StreamingResponse(chunks(), media_type=BYTES, headers=headers)


def job_filters(
    statuses: list[JobStatus] | None, experiment: str | None, created_by: str | None, compute: str | None,
    tags: list[str] | None, text: str | None,
) -> JobFilters:  # fmt: skip
    """The filters of a job list's query (``tag`` as ``key=value`` or ``key``: ``kiln.specs.tag_filters``)."""
    pairs = parse_tag_filters(tags or [])
    blank = lambda value: value or None  # noqa: E731 - an empty form field filters nothing
    return JobFilters(
        statuses=tuple(statuses or ()), experiment=blank(experiment), created_by=blank(created_by),
        compute=blank(compute), tags=pairs, text=blank(text),
    )  # fmt: skip


def parse_sort(sort: str) -> tuple[str, bool]:
    """``'-created'`` → (created, descending); InvalidSpec naming the choices for another."""
    key = sort.removeprefix("-")
    if key not in SORTS:
        raise InvalidSpec(f"sort: {sort!r} is not one of {', '.join(SORTS)} (a '-' first sorts descending)")
    return key, sort.startswith("-")
