"""The privacy ledger on PostgreSQL with two workspace servers on one database: 50 concurrent queries, spread over
both servers, that together want more than the budget never overspend it (each charge is one conditional UPDATE,
row-locked by PostgreSQL, and its charge row, in one transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import postgres_server as postgres_fixtures
from tests.conftest import WorkspaceServer, server_env
from tests.integration.privacy.conftest import (
    fifty_concurrent_count_queries,
    installed_engine,
    write_patients,
    write_private_spec,
)
from tests.lanes import server_fixture
from tests.postgres_server import PostgresServer

postgres_server = postgres_fixtures.postgres_server  # the session's PostgreSQL (a fixture)
pytestmark = pytest.mark.slow


@server_fixture(scope="module")
def servers(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkspaceServer, WorkspaceServer]]:
    engine = installed_engine()
    url = postgres_server.create_migrated_database(f"kiln_{uuid.uuid4().hex[:10]}")
    settings = {
        "database_url": url, "artifact_root": str(tmp_path_factory.mktemp("privacy-artifacts")),
        "privacy_engine_python": str(engine),
    }  # fmt: skip
    homes = [tmp_path_factory.mktemp("kiln-privacy-pg-home") for _ in range(2)]
    first, second = (WorkspaceServer(home, server_env(home, **settings)) for home in homes)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda server: server.start(timeout=240), (first, second)))
        yield first, second
    finally:
        for server in (first, second):
            server.stop()


def test_fifty_concurrent_queries_on_two_servers_never_overspend(servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"patients_{uuid.uuid4().hex[:8]}"
    write_patients(tmp_path, 500)
    servers[0].cli("data", "create", "-f", str(write_private_spec(tmp_path, name, epsilon=2.0)), check=True)
    sql = f"SELECT COUNT(*) AS n FROM {name}"  # what each charge records
    outcomes = fifty_concurrent_count_queries(servers, name)
    assert outcomes.count("answered") == 20 and outcomes.count("refused") == 30, sorted(set(outcomes))
    for server in servers:
        with server.client() as client:
            budget = client.privacy.budget(name, "1")
        assert len(budget.charges) == 20 and budget.spent_epsilon == pytest.approx(2.0)
        assert budget.spent_epsilon <= budget.epsilon + 1e-9
        assert {c.charged_by for c in budget.charges} and all(c.what == sql for c in budget.charges)
