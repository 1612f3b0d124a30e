"""The ``rollouts`` rows (migration 0019): each endpoint's latest rollout, and its repository.

One row per endpoint, replaced by its next rollout. A rollout is claimed with one conditional write (``UPDATE …
WHERE status <> 'running'``, or the first row's ``INSERT``): of two servers starting one at once, the one whose
write changed a row runs it; the other is refused. Every other write names the rollout's ``id``, so a late write
of an old rollout never lands on the next one's row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from kiln.store.database import insert_unique
from kiln.store.tables import Base, UTCDateTime

RUNNING = "running"


class RolloutRow(Base):
    __tablename__ = "rollouts"

    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), comment="this rollout (the endpoint's next one replaces the row)")
    status: Mapped[str] = mapped_column(String(32))
    view: Mapped[dict[str, Any]] = mapped_column(JSON, comment="RolloutView as of its last phase or window boundary")
    request: Mapped[dict[str, Any]] = mapped_column(JSON, comment="RolloutRequest as started")
    server_id: Mapped[str] = mapped_column(String(64), index=True, comment="the workspace server that runs (ran) it")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RolloutRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def claim(self, row: RolloutRow) -> bool:
        """Make ``row`` its endpoint's rollout unless the endpoint's row says one is running: True for the one
        caller that did."""
        fields = {
            "id": row.id, "status": row.status, "view": row.view, "request": row.request, "server_id": row.server_id,
            "cancel_requested": False, "started_at": row.started_at, "updated_at": row.updated_at,
        }  # fmt: skip
        replace = (
            update(RolloutRow).where(RolloutRow.endpoint == row.endpoint, RolloutRow.status != RUNNING).values(**fields)
        )
        with self._sessions.begin() as session:
            if _changed_one(session.execute(replace)):
                return True
            if session.get(RolloutRow, row.endpoint) is not None:
                return False  # one is running
        return insert_unique(self._sessions, row)  # the endpoint's first: False if another server's came first

    def get(self, endpoint: str) -> RolloutRow | None:
        with self._sessions() as session:
            return session.get(RolloutRow, endpoint)

    def save(self, endpoint: str, rollout_id: str, status: str, view: dict[str, Any], now: datetime) -> bool:
        """The rollout's view and status as they are now (False: the row holds another rollout)."""
        return self._update(endpoint, rollout_id, status=status, view=view, updated_at=now)

    def request_cancel(self, endpoint: str, rollout_id: str) -> bool:
        """Flag the running rollout for its server to cancel: False when it is no longer running."""
        return self._update(endpoint, rollout_id, RolloutRow.status == RUNNING, cancel_requested=True)

    def cancel_requested(self, endpoint: str, rollout_id: str) -> bool:
        query = select(RolloutRow.cancel_requested).where(RolloutRow.endpoint == endpoint, RolloutRow.id == rollout_id)
        with self._sessions() as session:
            return bool(session.scalar(query))

    def running_on(self, server_id: str) -> list[RolloutRow]:
        """The rollouts the rows say ``server_id`` is running."""
        query = select(RolloutRow).where(RolloutRow.server_id == server_id, RolloutRow.status == RUNNING)
        with self._sessions() as session:
            return list(session.scalars(query.order_by(RolloutRow.endpoint)))

    def _update(self, endpoint: str, rollout_id: str, *conditions: Any, **fields: Any) -> bool:
        statement = (
            update(RolloutRow)
            .where(RolloutRow.endpoint == endpoint, RolloutRow.id == rollout_id, *conditions)
            .values(**fields)
        )
        with self._sessions.begin() as session:
            return _changed_one(session.execute(statement))


def _changed_one(result: object) -> bool:
    return int(getattr(result, "rowcount", 0)) == 1
