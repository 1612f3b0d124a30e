"""A list's job views (plain rows of the columns a view reads, each stored record parsed once for the jobs that
share it) are the views of the whole rows, one by one: same JSON, same order, same filters."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from kiln.artifacts.store import ArtifactStore
from kiln.jobs.folders import output_key
from kiln.services.jobs import JobService
from kiln.specs.views import JobStatus, JobView
from kiln.store.database import create_database_engine, migrate, session_factory
from kiln.store.jobs import JobFilters, JobRepository
from tests.many_jobs import many_job_rows

BUILT = {"kind": "inline", "hash": "h", "python": "3.11", "requirements": ["a"], "lock": ["a==1"], "newer": 1}
UPLOAD = {"x": {"kind": "upload", "key": "uploads/c", "content_hash": "c"}}


@pytest.fixture
def service(tmp_path: Path) -> JobService:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    migrate(engine)
    repository = JobRepository(session_factory(engine))
    rows = many_job_rows(120)
    for i, row in enumerate(rows):  # shared and single records, an unknown kind, an active job, an output kept
        if i % 7 == 0:
            row.environment = BUILT
        if i % 11 == 0:
            row.pinned_inputs = UPLOAD
            inputs = {"x": {"type": "uri_file", "path": "upload:c"}, "n": 3}
            row.spec = {**row.spec, "inputs": inputs, "outputs": {"m": {"type": "mlflow_model", "name": "m"}}}
        if i % 13 == 0:
            row.spec = {**row.spec, "type": "not-registered"}
        if i % 17 == 0:
            row.status = "running"
    repository.add_many(rows)
    store = ArtifactStore(str(tmp_path / "artifacts"))
    kept = tmp_path / "model.pkl"
    kept.write_bytes(b"x")
    store.put(kept, f"{output_key(rows[1].id, 'default')}/model.pkl")  # rows[1] completed: its output is available
    return JobService(
        jobs=repository, uploads=None, inputs=None, environments=None, store=store, tracker=None, folders=None,
        workspace_url="http://127.0.0.1:1", engine=None, computes=None,
    )  # type: ignore[arg-type]  # fmt: skip


def dumped(views: list[Any]) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a value not of its field's type: pydantic warns as it writes it
        return [view.model_dump_json() for view in views]


def test_listed_views_are_what_validating_them_again_builds(service: JobService) -> None:
    for view in service.list(None, 1000):
        validated = JobView.model_validate(view.model_dump())
        assert validated == view
        assert {name: type(value) for name, value in view} == {name: type(value) for name, value in validated}
        assert view.model_fields_set == validated.model_fields_set


def test_a_list_answers_what_each_job_view_answers(service: JobService) -> None:
    whole = [service.view(row) for row in service.jobs.recent(limit=1000)]
    assert dumped(service.list(None, 1000)) == dumped(whole)
    assert {view.command for view in whole} >= {"python train.py --seed 1"}
    assert any(view.command.startswith("(") for view in whole)  # the unknown kind's note, as a single view says it
    assert any(view.environment.kind == "inline" for view in whole) and any(view.pinned_inputs for view in whole)
    assert any(output.available for view in whole for output in view.outputs)
    running = [view for view in whole if view.status == JobStatus.RUNNING][:3]
    assert dumped(service.list(JobStatus.RUNNING, 3)) == dumped(running)


def test_a_searched_page_answers_what_each_job_view_answers(service: JobService) -> None:
    whole = [service.view(row) for row in service.jobs.recent(limit=1000)]
    page, total = service.search(JobFilters(experiment="cifar"), offset=5, limit=10)
    assert total == 40
    assert dumped(page) == dumped([view for view in whole if view.experiment_name == "cifar"][5:15])
