"""Jobs: the list (``/ui/jobs``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.server.dependencies import Jobs
from kiln.server.permissions import Caller
from kiln.specs.views import JobStatus
from kiln.studio.rendering import render


def routes(router: APIRouter) -> None:
    @router.get("/ui/jobs")
    async def job_list(
        request: Request, jobs: Jobs, principal: Caller, status: JobStatus | None = None
    ) -> HTMLResponse:
        principal.ensure(api.jobs.LIST.role, api.jobs.LIST.action)
        rows = await run_in_threadpool(jobs.list, status, 50)
        return render(request, "jobs/list.html", jobs=rows, status=status, statuses=list(JobStatus))
