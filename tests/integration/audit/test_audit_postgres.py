"""The audit log on PostgreSQL (migration 0015 there, the quoted "user" column): concurrent changes through a
server on a PostgreSQL database are each recorded once, in the order the database gave them, and read back
filtered as on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from kiln.specs.users import WORKSPACE_PRINCIPAL
from tests import postgres_server as postgres_fixtures
from tests.conftest import WorkspaceServer, server_env
from tests.lanes import server_fixture
from tests.postgres_server import PostgresServer

postgres_server = postgres_fixtures.postgres_server  # the session's PostgreSQL (a fixture)
pytestmark = pytest.mark.slow


@server_fixture(scope="module")
def server(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    url = postgres_server.create_migrated_database(f"kiln_{uuid.uuid4().hex[:10]}")
    home = tmp_path_factory.mktemp("kiln-audit-pg-home")
    started = WorkspaceServer(
        home, server_env(home, database_url=url, artifact_root=str(tmp_path_factory.mktemp("audit-artifacts")))
    ).start(timeout=240)
    yield started
    started.stop()


def test_concurrent_changes_on_postgresql_are_each_recorded_once(server: WorkspaceServer) -> None:
    prefix = f"pg-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{number}" for number in range(12)]

    def create_and_delete(name: str) -> None:
        with server.client() as client:
            client.computes.create(name=name, type="local")
            client.computes.delete(name)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(create_and_delete, names))
    with server.client() as client:
        entries = [entry for entry in client.audit.list(kind="compute", since="1h") if entry.name in names]
        one = client.audit.list(name=names[3], user=WORKSPACE_PRINCIPAL)
    assert sorted((entry.name, entry.action) for entry in entries) == sorted(
        (name, action) for name in names for action in ("computes.create", "computes.delete")
    )
    assert len({entry.id for entry in entries}) == 24
    for name in names:  # each name's create before its delete, in the log's order
        assert [e.action for e in entries if e.name == name] == ["computes.create", "computes.delete"]
    assert [(entry.action, entry.user) for entry in one] == [
        ("computes.create", WORKSPACE_PRINCIPAL), ("computes.delete", WORKSPACE_PRINCIPAL),
    ]  # fmt: skip
