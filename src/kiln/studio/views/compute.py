"""Compute (``/ui/compute``): each compute target with its capacity and what is taken now (CPUs, GPUs,
memory, job slots) and the kiln jobs running and queued on it, as ``kiln compute list`` reads them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.server.dependencies import Computes
from kiln.server.permissions import Caller
from kiln.studio.rendering import render


def routes(router: APIRouter) -> None:
    @router.get("/ui/compute")
    def compute_list(request: Request, computes: Computes, principal: Caller) -> HTMLResponse:
        principal.ensure(api.computes.LIST.role, api.computes.LIST.action)
        return render(request, "compute/list.html", computes=computes.list())
