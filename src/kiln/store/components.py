"""Reads and writes of command component versions (kiln.pipelines)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kiln.errors import Conflict
from kiln.store.database import insert_unique
from kiln.store.tables import ComponentRow


class ComponentRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, row: ComponentRow) -> None:
        if not insert_unique(self._sessions, row):
            raise Conflict(
                f"component {row.name}:{row.version} exists already; a version is immutable: give another "
                "version, or leave 'version' out for the next one"
            )

    def versions(self, name: str) -> list[ComponentRow]:
        """Every version of ``name``, newest first."""
        query = select(ComponentRow).where(ComponentRow.name == name).order_by(ComponentRow.id.desc())
        with self._sessions() as session:
            return list(session.scalars(query))

    def find(self, name: str, version: str) -> ComponentRow | None:
        query = select(ComponentRow).where(ComponentRow.name == name, ComponentRow.version == version)
        with self._sessions() as session:
            row: ComponentRow | None = session.scalars(query).first()
            return row

    def all(self) -> list[ComponentRow]:
        """Every version of every component, in creation order."""
        with self._sessions() as session:
            return list(session.scalars(select(ComponentRow).order_by(ComponentRow.id)))

    def latest_of_each(self, limit: int = 1000) -> list[ComponentRow]:
        """The newest version of each component, by name."""
        with self._sessions() as session:
            rows = list(session.scalars(select(ComponentRow).order_by(ComponentRow.name, ComponentRow.id.desc())))
        latest: dict[str, ComponentRow] = {}
        for row in rows:
            latest.setdefault(row.name, row)
        return list(latest.values())[:limit]
