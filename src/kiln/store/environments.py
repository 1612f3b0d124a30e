"""Reads and writes of registered environment versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kiln.errors import AlreadyExists, NotFound
from kiln.specs.environment import LATEST
from kiln.store.database import insert_unique
from kiln.store.tables import EnvironmentRow


class EnvironmentRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, row: EnvironmentRow) -> None:
        if not insert_unique(self._sessions, row):
            raise AlreadyExists(f"environment {row.name}:{row.version} was just created by another request")

    def versions(self, name: str) -> list[EnvironmentRow]:
        """Every version of ``name``, newest first."""
        query = select(EnvironmentRow).where(EnvironmentRow.name == name).order_by(EnvironmentRow.created_at.desc())
        with self._sessions() as session:
            return list(session.scalars(query))

    def find(self, name: str, version: str) -> EnvironmentRow | None:
        if version == LATEST:
            found = self.versions(name)
            return found[0] if found else None
        query = select(EnvironmentRow).where(EnvironmentRow.name == name, EnvironmentRow.version == version)
        with self._sessions() as session:
            row: EnvironmentRow | None = session.scalars(query).first()
            return row

    def get(self, name: str, version: str) -> EnvironmentRow:
        row = self.find(name, version)
        if row is None:
            known = [r.version for r in self.versions(name)]
            hint = (
                f"versions: {', '.join(known)}" if known else "kiln environment list shows the environments there are"
            )
            what = f"{name}@latest" if version == LATEST else f"{name}:{version}"
            raise NotFound(f"environment '{what}' not found ({hint})")
        return row

    def all(self, name: str | None = None, limit: int = 1000) -> list[EnvironmentRow]:
        query = select(EnvironmentRow).order_by(EnvironmentRow.name, EnvironmentRow.created_at.desc()).limit(limit)
        if name:
            query = query.where(EnvironmentRow.name == name)
        with self._sessions() as session:
            return list(session.scalars(query))

    def with_status(self, status: str) -> list[EnvironmentRow]:
        with self._sessions() as session:
            return list(session.scalars(select(EnvironmentRow).where(EnvironmentRow.status == status)))

    def set_fields(self, row_id: str, **fields: Any) -> None:
        with self._sessions.begin() as session:
            session.execute(update(EnvironmentRow).where(EnvironmentRow.id == row_id).values(**fields))

    def reload(self, row_id: str) -> EnvironmentRow:
        with self._sessions() as session:
            row = session.get(EnvironmentRow, row_id)
            if row is None:
                raise NotFound(f"environment record {row_id} not found")
            return row
