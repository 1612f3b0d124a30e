"""Reads and writes of data asset versions. Rows are never changed except their ``archived`` flag."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from kiln.store.database import insert_unique
from kiln.store.tables import DataAssetRow


class DataAssetRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The database the versions live in (kiln.privacy keeps its ledger of their budgets beside them)."""
        return self._sessions

    def add(self, row: DataAssetRow) -> bool:
        """Insert the version; False if that name+version exists already (another writer may have won)."""
        return insert_unique(self._sessions, row)

    def find(self, name: str, version: str) -> DataAssetRow | None:
        query = select(DataAssetRow).where(DataAssetRow.name == name, DataAssetRow.version == version)
        with self._sessions() as session:
            row: DataAssetRow | None = session.scalars(query).first()
            return row

    def versions(self, name: str, include_archived: bool = True) -> list[DataAssetRow]:
        """Every version of ``name``, newest first."""
        query = select(DataAssetRow).where(DataAssetRow.name == name).order_by(DataAssetRow.id.desc())
        if not include_archived:
            query = query.where(DataAssetRow.archived.is_(False))
        with self._sessions() as session:
            return list(session.scalars(query))

    def latest(self, name: str) -> DataAssetRow | None:
        """The newest version that is not archived."""
        rows = self.versions(name, include_archived=False)
        return rows[0] if rows else None

    def latest_of_each(self, include_archived: bool = False) -> list[DataAssetRow]:
        """The newest version of every asset, by name."""
        newest = select(func.max(DataAssetRow.id)).group_by(DataAssetRow.name)
        if not include_archived:
            newest = newest.where(DataAssetRow.archived.is_(False))
        query = select(DataAssetRow).where(DataAssetRow.id.in_(newest)).order_by(DataAssetRow.name)
        with self._sessions() as session:
            return list(session.scalars(query))

    def names(self) -> list[str]:
        with self._sessions() as session:
            return list(session.scalars(select(DataAssetRow.name).distinct().order_by(DataAssetRow.name)))

    def set_archived(self, name: str, version: str | None, archived: bool) -> int:
        """Archive or restore one version (or every version when ``version`` is None); how many rows."""
        statement = update(DataAssetRow).where(DataAssetRow.name == name).values(archived=archived)
        if version is not None:
            statement = statement.where(DataAssetRow.version == version)
        with self._sessions.begin() as session:
            return int(getattr(session.execute(statement), "rowcount", 0))
