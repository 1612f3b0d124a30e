"""The schedules' rows (migration 0018) and their repository.

A due run is claimed with one conditional ``UPDATE`` of the schedule's ``next_run_at`` (``WHERE next_run_at =
:due``): of several servers on one database, the one whose update changed a row starts the run; the others see
no row changed and skip it. So each time on the timetable starts at most one job, whichever server saw it first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from kiln.store.database import insert_unique
from kiln.store.tables import Base, UTCDateTime


class ScheduleRow(Base):
    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the schedule as created, its job inline")
    job_type: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True, comment="None: none to come")
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_job: Mapped[str | None] = mapped_column(String(255))
    stopped_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScheduleRunRow(Base):
    __tablename__ = "schedule_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule: Mapped[str] = mapped_column(String(255), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    job: Mapped[str | None] = mapped_column(String(255))
    missed: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)


class ScheduleRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, row: ScheduleRow) -> bool:
        return insert_unique(self._sessions, row)

    def restore(self, row: ScheduleRow, runs: list[ScheduleRunRow]) -> bool:
        """A schedule and its past runs, as a workspace's import brings them, in one transaction; False if a schedule
        of that name exists already."""
        try:
            with self._sessions.begin() as session:
                if session.get(ScheduleRow, row.name) is not None:
                    return False
                session.add(row)
                session.add_all(runs)
        except IntegrityError:  # created meanwhile
            return False
        return True

    def all_runs(self, name: str) -> list[ScheduleRunRow]:
        """Every run of ``name``, oldest first."""
        query = select(ScheduleRunRow).where(ScheduleRunRow.schedule == name).order_by(ScheduleRunRow.id)
        with self._sessions() as session:
            return list(session.scalars(query))

    def get(self, name: str) -> ScheduleRow | None:
        with self._sessions() as session:
            return session.get(ScheduleRow, name)

    def all(self) -> list[ScheduleRow]:
        with self._sessions() as session:
            return list(session.scalars(select(ScheduleRow).order_by(ScheduleRow.name)))

    def due(self, now: datetime) -> list[ScheduleRow]:
        """The enabled schedules whose next run is at ``now`` or before."""
        query = select(ScheduleRow).where(
            ScheduleRow.enabled.is_(True), ScheduleRow.next_run_at.is_not(None), ScheduleRow.next_run_at <= now
        )
        with self._sessions() as session:
            return list(session.scalars(query.order_by(ScheduleRow.next_run_at)))

    def claim(self, name: str, due: datetime, following: datetime | None, now: datetime) -> bool:
        """Move the schedule's next run from ``due`` to ``following``: True for the one caller that did."""
        statement = (
            update(ScheduleRow)
            .where(ScheduleRow.name == name, ScheduleRow.enabled.is_(True), ScheduleRow.next_run_at == due)
            .values(next_run_at=following, updated_at=now)
        )
        with self._sessions.begin() as session:
            return _changed_one(session.execute(statement))

    def set_fields(self, name: str, **fields: Any) -> bool:
        with self._sessions.begin() as session:
            statement = update(ScheduleRow).where(ScheduleRow.name == name).values(**fields)
            return _changed_one(session.execute(statement))

    def delete(self, name: str) -> bool:
        with self._sessions.begin() as session:
            session.execute(delete(ScheduleRunRow).where(ScheduleRunRow.schedule == name))
            return _changed_one(session.execute(delete(ScheduleRow).where(ScheduleRow.name == name)))

    def record_run(self, run: ScheduleRunRow) -> None:
        with self._sessions.begin() as session:
            session.add(run)
            if run.job is not None:
                session.execute(
                    update(ScheduleRow).where(ScheduleRow.name == run.schedule)
                    .values(last_run_at=run.due_at, last_job=run.job)
                )  # fmt: skip

    def runs(self, name: str, limit: int) -> list[ScheduleRunRow]:
        query = (
            select(ScheduleRunRow)
            .where(ScheduleRunRow.schedule == name)
            .order_by(ScheduleRunRow.id.desc())
            .limit(limit)
        )
        with self._sessions() as session:
            return list(session.scalars(query))


def _changed_one(result: object) -> bool:
    return int(getattr(result, "rowcount", 0)) == 1
