"""The audit log: every change made to the workspace, read by owners. Nothing edits or deletes it."""

from __future__ import annotations

from kiln.api.operation import Operation
from kiln.specs.audit import AUDIT_LIST_LIMIT, AuditEntryView
from kiln.specs.roles import Role

LIST = Operation(
    "audit.list", "GET", "/api/v1/audit",
    summary="List the changes made to the workspace, oldest first",
    description=(
        "Each entry: who (the user and the credential), when, what (the operation, the resource's kind, name, "
        "version, a detail without secrets) and from where (address, user agent). Filters: ``since`` (``30m``, "
        "``12h``, ``1d``, ``2w`` or an ISO time), ``user``, ``kind`` (job, model, data, endpoint, deployment, "
        f"user…), ``name``; ``limit`` (at most {AUDIT_LIST_LIMIT}) keeps the newest that match."
    ),
    role=Role.OWNER, action="reading the audit log",
    response=list[AuditEntryView], query=("since", "user", "kind", "name", "limit"),
)  # fmt: skip
