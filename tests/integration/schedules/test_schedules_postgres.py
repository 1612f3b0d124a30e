"""Two workspace servers on one PostgreSQL database, with one schedules' clock the test moves: a cron schedule
every minute starts each run exactly once across both servers (a run is claimed by one conditional UPDATE of
the schedule's next_run_at; the loser's round skips it), whichever server's loop sees it first."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests import postgres_server as postgres_fixtures
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, wait_for
from tests.lanes import server_fixture
from tests.postgres_server import PostgresServer

postgres_server = postgres_fixtures.postgres_server  # the session's PostgreSQL (a fixture)
pytestmark = pytest.mark.slow
START = datetime(2031, 6, 1, tzinfo=UTC)
MINUTES = 3
SCHEDULES = 8


@server_fixture(scope="module")
def team(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkspaceServer, WorkspaceServer, str]]:
    database = f"kiln_{uuid.uuid4().hex[:10]}"
    url = postgres_server.create_migrated_database(database)
    clock_file = tmp_path_factory.mktemp("schedules-clock") / "now"
    clock_file.write_text(START.isoformat())
    settings = {
        "database_url": url, "artifact_root": str(tmp_path_factory.mktemp("schedules-artifacts")),
        "schedules_clock_file": str(clock_file), "local_concurrency": "2",
    }  # fmt: skip
    homes = [tmp_path_factory.mktemp("kiln-schedules-pg-home") for _ in range(2)]
    first, second = (WorkspaceServer(home, server_env(home, **settings)) for home in homes)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda server: server.start(timeout=240), (first, second)))
        yield first, second, database
    finally:
        for server in (first, second):
            server.stop()
            cleanup_jobs(server.home)


def test_each_run_starts_exactly_once_with_two_servers_on_one_database(
    team: tuple[WorkspaceServer, WorkspaceServer, str], postgres_server: PostgresServer
) -> None:
    """Several schedules due at once: a round submits them one by one, so the other server's round reads them due
    before the first has claimed them all, and only the conditional claim keeps it from starting them again."""
    first, second, database = team
    clock_file = first.env["KILN_SCHEDULES_CLOCK_FILE"]
    names = [f"shared-{index}" for index in range(SCHEDULES)]
    with first.client() as a, second.client() as b:
        for name in names:
            a.schedules.create({"name": name, "trigger": {"type": "cron", "expression": "* * * * *"},
                                "create_job": {"command": "python -c \"print('hello')\""}})  # fmt: skip
        for minute in range(1, MINUTES + 1):
            now = START + timedelta(minutes=minute)
            with open(clock_file, "w") as handle:
                handle.write(now.isoformat())
            wait_for(
                lambda: all(b.schedules.get(name).last_run_at == now for name in names),  # noqa: B023
                timeout=120, what=f"the runs of {now:%H:%M}",
            )  # fmt: skip
        runs = postgres_server.query("SELECT schedule, job, reason FROM schedule_runs ORDER BY id", database)
        assert [reason for _, _, reason in runs if reason] == []  # no server tried a run another had started
        assert sorted(job for _, job, _ in runs) == sorted(
            f"{name}-{START + timedelta(minutes=m):%Y%m%d%H%M}" for name in names for m in range(1, MINUTES + 1)
        )
        for name in names:
            shown = a.schedules.get(name)
            assert len(shown.runs) == MINUTES and shown.next_run_at == now + timedelta(minutes=1)
            assert len(a.jobs.search(tags={"kiln.schedule": name})[0]) == MINUTES
