"""Reads and writes of job rows. Status changes are compare-and-set so that two
actors (the scheduler, a cancel request, a restart) never both win."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from kiln.errors import NotFound
from kiln.specs.views import JobStatus
from kiln.store.tables import JobRow


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, row: JobRow) -> None:
        with self._sessions.begin() as session:
            session.add(row)

    def find(self, name_or_id: str) -> JobRow | None:
        with self._sessions() as session:
            query = select(JobRow).where(or_(JobRow.name == name_or_id, JobRow.id == name_or_id))
            row: JobRow | None = session.scalars(query).first()
            return row

    def get(self, name_or_id: str) -> JobRow:
        row = self.find(name_or_id)
        if row is None:
            raise NotFound(f"job '{name_or_id}' not found (kiln job list shows the jobs there are)")
        return row

    def name_taken(self, name: str) -> bool:
        return self.find(name) is not None

    def recent(self, statuses: Iterable[JobStatus] | None = None, limit: int = 100) -> list[JobRow]:
        query = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
        if statuses is not None:
            query = query.where(JobRow.status.in_([s.value for s in statuses]))
        with self._sessions() as session:
            return list(session.scalars(query))

    def oldest_queued(self, compute: str, limit: int | None = None) -> list[JobRow]:
        query = (
            select(JobRow)
            .where(JobRow.status == JobStatus.QUEUED.value, JobRow.compute == compute)
            .order_by(JobRow.created_at)
            .limit(limit)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def gpus_held(self, statuses: Iterable[JobStatus], compute: str) -> set[str]:
        """The GPU ids that jobs in ``statuses`` on ``compute`` hold."""
        query = select(JobRow.gpu_ids).where(JobRow.status.in_([s.value for s in statuses]), JobRow.compute == compute)
        with self._sessions() as session:
            return {gpu for ids in session.scalars(query) for gpu in ids or []}

    def count(self, statuses: Iterable[JobStatus], compute: str | None = None) -> int:
        query = select(func.count()).select_from(JobRow).where(JobRow.status.in_([s.value for s in statuses]))
        if compute is not None:
            query = query.where(JobRow.compute == compute)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def transition(self, job_id: str, allowed_from: Iterable[JobStatus], to: JobStatus, **fields: Any) -> bool:
        """Move a job to ``to`` only if it is in one of ``allowed_from``; True if it moved."""
        values = {"status": to.value, **fields}
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status.in_([s.value for s in allowed_from]))
                .values(**values)
            )
            return bool(getattr(result, "rowcount", 0))

    def set_fields(self, job_id: str, **fields: Any) -> None:
        with self._sessions.begin() as session:
            session.execute(update(JobRow).where(JobRow.id == job_id).values(**fields))
