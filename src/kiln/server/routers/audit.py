"""REST for the audit log (``kiln.api.audit``): one read, for owners. No route writes, edits or deletes it:
entries are appended by ``kiln.server.audit`` after each change."""

from __future__ import annotations

from fastapi import APIRouter, Query

from kiln import api
from kiln.server.dependencies import AuditEntries
from kiln.server.routes import bind
from kiln.specs.audit import AUDIT_LIST_LIMIT, AuditEntryView


def audit_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.audit.LIST)
    def list_audit_entries(
        audit: AuditEntries, since: str | None = None, user: str | None = None, kind: str | None = None,
        name: str | None = None, limit: int = Query(AUDIT_LIST_LIMIT, ge=1, le=AUDIT_LIST_LIMIT),
    ) -> list[AuditEntryView]:  # fmt: skip
        return audit.find(since, user, kind, name, limit)

    return router
