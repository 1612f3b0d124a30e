"""Reads and writes of registered compute targets."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from kiln.errors import AlreadyExists, NotFound
from kiln.specs.compute import LOCAL
from kiln.store.database import insert_unique
from kiln.store.tables import ComputeRow


class ComputeRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, row: ComputeRow) -> None:
        if not insert_unique(self._sessions, row):
            raise AlreadyExists(
                f"a compute target named '{row.name}' already exists; pick another name, or delete it first "
                f"(kiln compute delete -n {row.name})"
            )

    def find(self, name: str) -> ComputeRow | None:
        with self._sessions() as session:
            return session.get(ComputeRow, name)

    def get(self, name: str) -> ComputeRow:
        row = self.find(name)
        if row is None:
            raise NotFound(f"compute target '{name}' not found (available: {', '.join(self.names())})")
        return row

    def all(self) -> list[ComputeRow]:
        with self._sessions() as session:
            return list(session.scalars(select(ComputeRow).order_by(ComputeRow.name)))

    def names(self) -> list[str]:
        """Every compute target's name, ``local`` first."""
        return [LOCAL, *(row.name for row in self.all())]

    def remove(self, name: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(ComputeRow).where(ComputeRow.name == name))
