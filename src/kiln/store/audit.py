"""The audit log's table: entries are appended and read, never updated nor deleted (no method here does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kiln.specs.audit import AUDIT_LIST_LIMIT
from kiln.store.tables import AuditEntryRow


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a reader asks for; None: any."""

    since: datetime | None = None
    user: str | None = None
    kind: str | None = None
    name: str | None = None  # the resource's name (a deployment is listed under its endpoint's)
    limit: int = AUDIT_LIST_LIMIT


class AuditRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def append(self, row: AuditEntryRow) -> None:
        with self._sessions.begin() as session:
            session.add(row)

    def entries(self, wanted: AuditFilter) -> list[AuditEntryRow]:
        """The newest ``wanted.limit`` entries that match, oldest first (the order they happened in)."""
        query = select(AuditEntryRow)
        if wanted.since is not None:
            query = query.where(AuditEntryRow.at >= wanted.since)
        if wanted.user is not None:
            query = query.where(AuditEntryRow.user == wanted.user)
        if wanted.kind is not None:
            query = query.where(AuditEntryRow.kind == wanted.kind)
        if wanted.name is not None:
            query = query.where(AuditEntryRow.name == wanted.name)
        with self._sessions() as session:
            newest = list(session.scalars(query.order_by(AuditEntryRow.id.desc()).limit(wanted.limit)))
        return newest[::-1]
