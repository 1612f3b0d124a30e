"""JobRepository.search: filters, sorts and pages in SQL, with the total that matches."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from kiln.specs.views import JobStatus
from kiln.store.database import create_database_engine, migrate, session_factory
from kiln.store.jobs import JobFilters, JobRepository
from tests.many_jobs import add_many_jobs


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> JobRepository:
    database = create_database_engine(f"sqlite:///{tmp_path_factory.mktemp('search') / 'kiln.db'}")
    migrate(database)
    repository = JobRepository(session_factory(database))
    add_many_jobs(repository, 5000)
    return repository


def test_a_page_of_all_jobs_newest_first_with_the_total(jobs: JobRepository) -> None:
    rows, total = jobs.search(JobFilters(), offset=0, limit=50)
    assert total == 5000 and len(rows) == 50
    assert [row.name for row in rows[:2]] == ["bulk-04999", "bulk-04998"]
    last, total = jobs.search(JobFilters(), offset=4980, limit=50)
    assert total == 5000 and len(last) == 20 and last[-1].name == "bulk-00000"


def test_filters_combine(jobs: JobRepository) -> None:
    rows, total = jobs.search(
        JobFilters(statuses=(JobStatus.FAILED,), experiment="cifar", created_by="bob", tags={"lr": "1"}), limit=500
    )
    assert total == len(rows) == 167  # failed (index % 5 in 1, 4), cifar (% 3 == 1), bob (odd), lr 1 (% 4 == 1)
    for row in rows:
        assert (row.status, row.experiment_name, row.created_by, json.loads(row.spec_json)["tags"]["lr"]) == (
            "failed", "cifar", "bob", "1")  # fmt: skip
    assert jobs.search(JobFilters(tags={"lr": "nine"}))[1] == 0
    assert jobs.search(JobFilters(tags={"lr": None}))[1] == 5000  # None: has the tag, whatever its value
    assert jobs.search(JobFilters(tags={"lr": None, "team": "vision", "reviewed": None}))[1] == 0
    assert jobs.search(JobFilters(compute="elsewhere"))[1] == 0
    assert jobs.search(JobFilters(text="04_"))[1] == 0  # '_' is a character here, not a wildcard
    assert [row.name for row in jobs.search(JobFilters(text="-0499"))[0]] == [f"bulk-0499{i}" for i in range(9, -1, -1)]


def test_sorts_both_ways(jobs: JobRepository) -> None:
    by_name = [row.name for row in jobs.search(JobFilters(), sort="name", descending=False, limit=3)[0]]
    assert by_name == ["bulk-00000", "bulk-00001", "bulk-00002"]
    longest = jobs.search(JobFilters(), sort="duration", descending=True, limit=5)[0]
    assert all((row.ended_at - row.started_at).total_seconds() == 96 for row in longest)
    shortest = jobs.search(JobFilters(), sort="duration", descending=False, limit=5)[0]
    assert all((row.ended_at - row.started_at).total_seconds() == 0 for row in shortest)
    never_started = jobs.search(JobFilters(), sort="duration", descending=False, offset=3999, limit=2)[0]
    assert [row.started_at is None for row in never_started] == [False, True]  # no duration: last either way
    assert jobs.search(JobFilters(), sort="duration", descending=True, offset=3999, limit=2)[0][1].started_at is None
    statuses = [row.status for row in jobs.search(JobFilters(), sort="status", descending=False, limit=5000)[0]]
    assert statuses == sorted(statuses)
    with pytest.raises(ValueError, match="unknown sort"):
        jobs.search(JobFilters(), sort="colour")


def test_a_page_deep_in_5000_jobs_is_cut_in_the_database(jobs: JobRepository) -> None:
    """The page and the count are the database's work: one query reads 50 rows, one counts (speed: bench/ui)."""
    engine = jobs._sessions.kw["bind"]
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        rows, total = jobs.search(JobFilters(statuses=(JobStatus.COMPLETED,)), sort="duration", offset=1500, limit=50)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(rows) == 50 and total == 2000  # index % 5 == 0 or 2: completed
    reads = [statement for statement, _ in statements if statement.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2
    assert "LIMIT" in reads[0].upper() and "OFFSET" in reads[0].upper()
    assert "count(" in reads[1].lower()
    assert "spec_json" not in reads[1]
