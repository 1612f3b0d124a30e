"""kiln studio's batch endpoints page (``/ui/batch-endpoints``): each endpoint with its deployments (the default
marked) and its latest invocations — jobs, linked to their job pages, with their status — reloading itself every
five seconds while one runs. Read with the roles of ``batch_endpoints.list`` and ``batch_endpoints.list_jobs``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from kiln.batch import api
from kiln.batch.service import DEPLOYMENT_TAG, BatchService
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.studio.pages import StudioPage
from kiln.studio.rendering import render

PAGES = (StudioPage("batch-endpoints", "Batch endpoints", "kiln.batch.studio:routes", order=62),)
INVOCATIONS_SHOWN = 10
REFRESH_SECONDS = 5
Service = Annotated[BatchService, Depends(capability_service("batch"))]


def routes(router: APIRouter) -> None:
    @router.get("/ui/batch-endpoints")
    def batch_endpoints(request: Request, service: Service, principal: Caller) -> HTMLResponse:
        principal.ensure(api.LIST.role, api.LIST.action)
        principal.ensure(api.LIST_JOBS.role, api.LIST_JOBS.action)
        endpoints = [_endpoint(service, view.name) for view in service.list_endpoints()]
        live = any(job["status"] in ("queued", "preparing", "running") for e in endpoints for job in e["jobs"])
        return render(request, "batch/list.html", endpoints=endpoints, refresh=REFRESH_SECONDS if live else None)


def _endpoint(service: BatchService, name: str) -> dict[str, Any]:
    jobs = service.list_jobs(name)[:INVOCATIONS_SHOWN]
    return {
        "name": name,
        "deployments": service.list_deployments(name),
        "jobs": [
            {
                "name": job.name, "status": job.status.value, "deployment": job.tags.get(DEPLOYMENT_TAG, ""),
                "input": job.inputs.get("data", {}).get("path", "") if isinstance(job.inputs.get("data"), dict) else "",
                "created_at": job.created_at, "duration": job.duration_seconds,
            }
            for job in jobs
        ],
    }  # fmt: skip
