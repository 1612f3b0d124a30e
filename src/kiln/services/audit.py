"""The audit log: what the REST layer appends after each change (``kiln.server.audit``) and what owners read.

Append-only: this service records and lists; nothing in kiln updates or deletes an entry, and no route
offers to. The log stays with its workspace: ``kiln workspace export`` does not carry it (an import is
itself one entry in the receiving workspace's log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kiln.clock import utcnow
from kiln.specs.audit import AUDIT_LIST_LIMIT, AuditEntryView, since_time
from kiln.store.audit import AuditFilter, AuditRepository
from kiln.store.tables import AuditEntryRow

_TEXT_LIMITS = {"via": 128, "action": 64, "kind": 64, "name": 255, "version": 64, "client": 64, "user_agent": 255}


@dataclass(frozen=True)
class Change:
    """One change: what was done to which resource."""

    action: str  # the REST operation's name
    kind: str
    name: str | None = None
    version: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Origin:
    """Who made a change and from where."""

    user: str
    via: str
    client: str | None = None
    user_agent: str | None = None


class AuditLog:
    def __init__(self, repository: AuditRepository) -> None:
        self._repository = repository

    def record(self, change: Change, origin: Origin, at: datetime | None = None) -> None:
        row = AuditEntryRow(
            at=at or utcnow(), user=origin.user[:128], detail=change.detail,
            **_bounded(via=origin.via, action=change.action, kind=change.kind, name=change.name,
                       version=change.version, client=origin.client, user_agent=origin.user_agent),
        )  # fmt: skip
        self._repository.append(row)

    def entries(self, wanted: AuditFilter) -> list[AuditEntryView]:
        return [_view(row) for row in self._repository.entries(wanted)]

    def find(
        self, since: str | None = None, user: str | None = None, kind: str | None = None, name: str | None = None,
        limit: int = AUDIT_LIST_LIMIT,
    ) -> list[AuditEntryView]:  # fmt: skip
        """The entries a reader's filters select (REST's query, the studio's form): an empty one filters nothing;
        ``since`` as :func:`~kiln.specs.audit.since_time` reads it."""
        wanted = AuditFilter(
            since=since_time(since, utcnow()) if since else None, user=user or None, kind=kind or None,
            name=name or None, limit=limit,
        )  # fmt: skip
        return self.entries(wanted)


def _bounded(**texts: str | None) -> dict[str, str | None]:
    """Each text cut to its column's length (a long user agent is not a reason to lose the entry)."""
    return {key: None if text is None else text[: _TEXT_LIMITS[key]] for key, text in texts.items()}


def _view(row: AuditEntryRow) -> AuditEntryView:
    return AuditEntryView(
        id=row.id, at=row.at, user=row.user, via=row.via, action=row.action, kind=row.kind, name=row.name,
        version=row.version, detail=row.detail or {}, client=row.client, user_agent=row.user_agent,
    )  # fmt: skip
