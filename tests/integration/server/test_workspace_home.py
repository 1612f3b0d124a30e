"""The pre-migrated home the tests copy (tests/workspace_home.py) is what a fresh start creates: a server
started from an empty home and one started from the template leave the same schema and rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import WorkspaceServer, cleanup_jobs, server_env
from tests.lanes import server_fixture
from tests.workspace_home import KILN_DATABASE, MLFLOW_DATABASE, database_dump

MILLISECONDS = re.compile(r"\b1\d{12}\b")  # creation times of the rows a start writes (MLflow's Default experiment)


@server_fixture
def fresh_and_copied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WorkspaceServer, WorkspaceServer]]:
    homes = [tmp_path_factory.mktemp(name) for name in ("kiln-empty-home", "kiln-copied-home")]
    fresh = WorkspaceServer(homes[0], server_env(homes[0]), fresh=True)
    copied = WorkspaceServer(homes[1], server_env(homes[1]))
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(WorkspaceServer.start, (fresh, copied)))
    yield fresh, copied
    for server in (fresh, copied):
        server.stop()
        cleanup_jobs(server.home)


def _content(server: WorkspaceServer, database: str) -> list[str]:
    """Schema and rows without creation times, in an order that does not depend on the process: the order of
    statements, and of the columns and constraints inside a CREATE TABLE (SQLite's table rebuilds during
    Alembic migrations list constraints in set order), are sorted."""
    statements = []
    for statement in database_dump(server.home / database):
        parts = (part.strip().removesuffix(",").strip() for part in statement.split("\n"))
        statements.append("\n".join(sorted(MILLISECONDS.sub("<time>", part) for part in parts)))
    return sorted(statements)


def test_a_copied_home_holds_what_a_fresh_start_creates(
    fresh_and_copied: tuple[WorkspaceServer, WorkspaceServer],
) -> None:
    fresh, copied = fresh_and_copied
    # MLflow's server made its tables in the empty home only; in the copied one it found them
    migrated = "Creating initial MLflow database tables"
    assert migrated in (fresh.home / "mlflow" / "mlflow-server.log").read_text()
    assert migrated not in (copied.home / "mlflow" / "mlflow-server.log").read_text()
    for database in (str(KILN_DATABASE), str(MLFLOW_DATABASE)):
        assert _content(fresh, database) == _content(copied, database), database
    for server in (fresh, copied):  # what each start makes for itself, not copied
        assert {"token", "server_id"} <= {path.name for path in server.home.iterdir()}
    assert (fresh.home / "server_id").read_text() != (copied.home / "server_id").read_text()
