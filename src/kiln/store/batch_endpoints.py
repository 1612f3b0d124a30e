"""Reads and writes of batch endpoints and their deployments (kiln.batch)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from kiln.clock import utcnow
from kiln.errors import NotFound
from kiln.store.database import insert_unique
from kiln.store.tables import BatchDeploymentRow, BatchEndpointRow


class BatchEndpointRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add_endpoint(self, row: BatchEndpointRow) -> bool:
        """False if an endpoint of that name exists already."""
        return insert_unique(self._sessions, row)

    def get_endpoint(self, name: str) -> BatchEndpointRow:
        with self._sessions() as session:
            row = session.get(BatchEndpointRow, name)
        if row is None:
            raise NotFound(f"batch endpoint '{name}' not found (kiln batch-endpoint list shows them)")
        return row

    def endpoints(self) -> list[BatchEndpointRow]:
        with self._sessions() as session:
            return list(session.scalars(select(BatchEndpointRow).order_by(BatchEndpointRow.name)))

    def set_endpoint_spec(self, name: str, spec: dict[str, Any]) -> None:
        statement = update(BatchEndpointRow).where(BatchEndpointRow.name == name)
        with self._sessions.begin() as session:
            session.execute(statement.values(spec=spec, updated_at=utcnow()))

    def delete_endpoint(self, name: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(BatchDeploymentRow).where(BatchDeploymentRow.endpoint == name))
            session.execute(delete(BatchEndpointRow).where(BatchEndpointRow.name == name))

    def add_deployment(self, row: BatchDeploymentRow) -> bool:
        return insert_unique(self._sessions, row)

    def replace_deployment(self, endpoint: str, name: str, **fields: Any) -> None:
        statement = update(BatchDeploymentRow).where(
            BatchDeploymentRow.endpoint == endpoint, BatchDeploymentRow.name == name
        )
        with self._sessions.begin() as session:
            session.execute(statement.values(updated_at=utcnow(), **fields))

    def find_deployment(self, endpoint: str, name: str) -> BatchDeploymentRow | None:
        query = select(BatchDeploymentRow).where(
            BatchDeploymentRow.endpoint == endpoint, BatchDeploymentRow.name == name
        )
        with self._sessions() as session:
            found: BatchDeploymentRow | None = session.scalars(query).first()
            return found

    def get_deployment(self, endpoint: str, name: str) -> BatchDeploymentRow:
        row = self.find_deployment(endpoint, name)
        if row is None:
            raise NotFound(
                f"batch deployment '{name}' not found on endpoint '{endpoint}' (kiln batch-deployment list -e {endpoint})"
            )
        return row

    def deployments(self, endpoint: str) -> list[BatchDeploymentRow]:
        query = (
            select(BatchDeploymentRow).where(BatchDeploymentRow.endpoint == endpoint).order_by(BatchDeploymentRow.id)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def delete_deployment(self, endpoint: str, name: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                delete(BatchDeploymentRow).where(
                    BatchDeploymentRow.endpoint == endpoint, BatchDeploymentRow.name == name
                )
            )
