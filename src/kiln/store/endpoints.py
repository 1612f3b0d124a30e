"""Reads and writes of online endpoints, their deployments and the replica processes serving them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from kiln.clock import utcnow
from kiln.errors import NotFound
from kiln.store.database import insert_unique
from kiln.store.tables import OnlineDeploymentRow, OnlineEndpointRow, OnlineReplicaRow


class EndpointRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # Endpoints --------------------------------------------------------------------------------
    def add_endpoint(self, row: OnlineEndpointRow) -> bool:
        """False if an endpoint of that name exists already."""
        return insert_unique(self._sessions, row)

    def find_endpoint(self, name: str) -> OnlineEndpointRow | None:
        with self._sessions() as session:
            return session.get(OnlineEndpointRow, name)

    def get_endpoint(self, name: str) -> OnlineEndpointRow:
        row = self.find_endpoint(name)
        if row is None:
            raise NotFound(f"online endpoint '{name}' not found (kiln online-endpoint list shows them)")
        return row

    def endpoints(self) -> list[OnlineEndpointRow]:
        with self._sessions() as session:
            return list(session.scalars(select(OnlineEndpointRow).order_by(OnlineEndpointRow.name)))

    def set_endpoint_fields(self, name: str, **fields: Any) -> None:
        statement = update(OnlineEndpointRow).where(OnlineEndpointRow.name == name)
        with self._sessions.begin() as session:
            session.execute(statement.values(updated_at=utcnow(), **fields))

    def delete_endpoint(self, name: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(OnlineReplicaRow).where(OnlineReplicaRow.endpoint == name))
            session.execute(delete(OnlineDeploymentRow).where(OnlineDeploymentRow.endpoint == name))
            session.execute(delete(OnlineEndpointRow).where(OnlineEndpointRow.name == name))

    # Deployments ------------------------------------------------------------------------------
    def add_deployment(self, row: OnlineDeploymentRow) -> bool:
        return insert_unique(self._sessions, row)

    def find_deployment(self, endpoint: str, name: str) -> OnlineDeploymentRow | None:
        query = select(OnlineDeploymentRow).where(
            OnlineDeploymentRow.endpoint == endpoint, OnlineDeploymentRow.name == name
        )
        with self._sessions() as session:
            row: OnlineDeploymentRow | None = session.scalars(query).first()
            return row

    def get_deployment(self, endpoint: str, name: str) -> OnlineDeploymentRow:
        row = self.find_deployment(endpoint, name)
        if row is None:
            raise NotFound(
                f"deployment '{name}' not found on endpoint '{endpoint}' (kiln online-deployment list -e {endpoint})"
            )
        return row

    def deployments(self, endpoint: str | None = None) -> list[OnlineDeploymentRow]:
        query = select(OnlineDeploymentRow).order_by(OnlineDeploymentRow.endpoint, OnlineDeploymentRow.id)
        if endpoint is not None:
            query = query.where(OnlineDeploymentRow.endpoint == endpoint)
        with self._sessions() as session:
            return list(session.scalars(query))

    def set_deployment_fields(self, row_id: int, **fields: Any) -> None:
        statement = update(OnlineDeploymentRow).where(OnlineDeploymentRow.id == row_id)
        with self._sessions.begin() as session:
            session.execute(statement.values(updated_at=utcnow(), **fields))

    def delete_deployment(self, endpoint: str, name: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                delete(OnlineReplicaRow).where(
                    OnlineReplicaRow.endpoint == endpoint, OnlineReplicaRow.deployment == name
                )
            )
            session.execute(
                delete(OnlineDeploymentRow).where(
                    OnlineDeploymentRow.endpoint == endpoint, OnlineDeploymentRow.name == name
                )
            )

    # Replicas ---------------------------------------------------------------------------------
    def add_replica(self, row: OnlineReplicaRow) -> int:
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return int(row.id)

    def replicas(self) -> list[OnlineReplicaRow]:
        with self._sessions() as session:
            return list(session.scalars(select(OnlineReplicaRow).order_by(OnlineReplicaRow.id)))

    def delete_replica(self, row_id: int) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(OnlineReplicaRow).where(OnlineReplicaRow.id == row_id))
