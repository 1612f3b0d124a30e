"""Reads and writes of registered datastores."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from kiln.errors import AlreadyExists, NotFound
from kiln.store.database import insert_unique
from kiln.store.tables import DatastoreRow


class DatastoreRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, row: DatastoreRow) -> None:
        if not insert_unique(self._sessions, row):
            raise AlreadyExists(
                f"a datastore named '{row.name}' already exists; pick another name, or delete it first "
                f"(kiln datastore delete -n {row.name})"
            )

    def find(self, name: str) -> DatastoreRow | None:
        with self._sessions() as session:
            return session.get(DatastoreRow, name)

    def get(self, name: str) -> DatastoreRow:
        row = self.find(name)
        if row is None:
            known = ", ".join(row.name for row in self.all()) or "none yet"
            raise NotFound(
                f"there is no datastore named '{name}' (datastores: {known}; kiln datastore create adds one)"
            )
        return row

    def all(self) -> list[DatastoreRow]:
        with self._sessions() as session:
            return list(session.scalars(select(DatastoreRow).order_by(DatastoreRow.name)))

    def remove(self, name: str) -> bool:
        with self._sessions.begin() as session:
            return bool(session.execute(delete(DatastoreRow).where(DatastoreRow.name == name)).rowcount)  # type: ignore[attr-defined]
