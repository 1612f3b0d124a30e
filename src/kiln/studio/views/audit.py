"""The audit log: ``/ui/audit`` (owners), every change to the workspace, filtered by time, user, kind and name
as ``kiln audit`` filters it. A read only: nothing on the page, nor anywhere in kiln, alters the log."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.server.dependencies import AuditEntries
from kiln.server.permissions import Caller
from kiln.studio.rendering import render

SPANS = (("1h", "the last hour"), ("1d", "the last day"), ("7d", "the last week"), ("30d", "the last 30 days"))
KINDS = ("job", "data", "environment", "model", "endpoint", "deployment", "user", "compute", "datastore", "workspace")


def routes(router: APIRouter) -> None:
    @router.get("/ui/audit")
    def audit_page(
        request: Request, audit: AuditEntries, principal: Caller, since: str = "1d", user: str = "", kind: str = "",
        name: str = "",
    ) -> HTMLResponse:  # fmt: skip
        principal.ensure(api.audit.LIST.role, api.audit.LIST.action)
        entries = audit.find(since, user, kind, name)
        chosen = {"since": since, "user": user, "kind": kind, "name": name}
        return render(request, "audit/list.html", entries=entries[::-1], chosen=chosen, spans=SPANS, kinds=KINDS)
