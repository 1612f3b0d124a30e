"""Jobs: the list (``/ui/jobs``: filtered, sorted and paged on the server; htmx swaps the table), a job's page
(``/ui/jobs/NAME``: its record, live log and live metric charts read from the REST routes by ``jobs.js``), a file
of its code snapshot and the files of an output."""

from __future__ import annotations

from math import ceil
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.errors import NotFound
from kiln.server.dependencies import Jobs
from kiln.server.permissions import Caller
from kiln.server.routers.jobs import job_filters, parse_sort
from kiln.specs.views import JOB_SORTS, JobStatus
from kiln.studio.rendering import NO_STORE, fragment, render, viewer_of

PAGE_SIZE = 50
TEXT_LIMIT = 512 * 1024  # a code file larger than this is offered as a download, not shown


def routes(router: APIRouter) -> None:
    @router.get("/ui/jobs")
    def job_list(
        request: Request, jobs: Jobs, principal: Caller,
        status: str = "", experiment: str = "", created_by: str = "", compute: str = "", tag: str = "",
        q: str = "", sort: str = "-created", page: int = Query(1, ge=1),
    ) -> HTMLResponse:  # fmt: skip
        principal.ensure(api.jobs.LIST.role, api.jobs.LIST.action)
        statuses = [JobStatus(status)] if status in {s.value for s in JobStatus} else None
        tags = [part.strip() for part in tag.split(",") if part.strip()]
        filters = job_filters(statuses, experiment, created_by, compute, tags, q.strip())
        order, descending = parse_sort(sort)
        rows, total = jobs.search(filters, order, descending, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        chosen = {"status": status, "experiment": experiment, "created_by": created_by, "compute": compute,
                  "tag": tag, "q": q, "sort": sort}  # fmt: skip
        context = {
            "jobs": rows, "total": total, "page": page, "pages": max(ceil(total / PAGE_SIZE), 1), "chosen": chosen,
            "link": lambda **change: "/ui/jobs?" + urlencode({k: v for k, v in {**chosen, **change}.items() if v}),
            "sorts": JOB_SORTS, "order": order, "descending": descending,
            "filtered": any(value for key, value in chosen.items() if key != "sort"),
        }  # fmt: skip
        if request.headers.get("hx-target") == "job-table":  # htmx: the table alone
            return HTMLResponse(fragment("jobs/table.html", viewer=viewer_of(request), **context), headers=NO_STORE)
        choices = jobs.filter_choices()
        return render(request, "jobs/list.html", statuses=list(JobStatus), choices=choices, **context)

    @router.get("/ui/jobs/{name}")
    async def job_page(request: Request, jobs: Jobs, principal: Caller, name: str) -> HTMLResponse:
        principal.ensure(api.jobs.SHOW.role, api.jobs.SHOW.action)
        job = await run_in_threadpool(jobs.get, name, True)
        environment = await run_in_threadpool(jobs.recorded_environment, job.name)
        code = await run_in_threadpool(_code_files, jobs, job.name) if job.code_hash else []
        return render(
            request, "jobs/job.html", job=job, environment=environment, code_files=code,
            output_links=await run_in_threadpool(_output_links, jobs, job.name),
        )  # fmt: skip

    @router.get("/ui/jobs/{name}/code")
    def code_file(request: Request, jobs: Jobs, principal: Caller, name: str, path: str) -> HTMLResponse:
        principal.ensure(api.jobs.CODE_FILE.role, api.jobs.CODE_FILE.action)
        job = jobs.get(name)
        with jobs.code_file(job.name, path) as handle:
            data = handle.read(TEXT_LIMIT + 1)
        text = None
        if len(data) <= TEXT_LIMIT and b"\0" not in data:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        download = api.jobs.CODE_FILE.url(name=job.name) + "?" + urlencode({"path": path})
        return render(request, "jobs/file.html", job=job, file_path=path, text=text, download=download)

    @router.get("/ui/jobs/{name}/outputs/{output}")
    def output_files(request: Request, jobs: Jobs, principal: Caller, name: str, output: str) -> HTMLResponse:
        principal.ensure(api.jobs.OUTPUT_FILES.role, api.jobs.OUTPUT_FILES.action)
        job = jobs.get(name)
        jobs.ensure_outputs_readable(job.name, principal.role)
        files = jobs.output_files(job.name, output)
        base = api.jobs.OUTPUT_FILE.url(name=job.name, output=output)
        archive = api.jobs.OUTPUT.url(name=job.name, output=output)
        return render(request, "jobs/output.html", job=job, output=output, files=files, base=base, archive=archive)


def _code_files(jobs: Any, name: str) -> list[Any]:
    try:
        return list(jobs.code_files(name))
    except NotFound:
        return []


def _output_links(jobs: Any, name: str) -> dict[str, str]:
    """Where a registered output leads: a model output that names a model, that model's page."""
    return {
        output: f"/ui/models/{model}" + (f"/{version}" if version else "")
        for output, (model, version) in jobs.model_outputs(name).items()
    }
