"""A job list's plain rows (``kiln.sdk.job_rows``) read the REST answer as the views do, for the fields a list shows,
from the path the REST contract declares; an answer they cannot read is a clear error, not a traceback."""

from __future__ import annotations

import json

import pytest

from kiln import api
from kiln.errors import Unavailable
from kiln.sdk.job_rows import LIST_PATH, JobRow, list_job_rows
from kiln.specs.views import JobView

SHOWN = ("name", "status", "experiment_name", "created_at", "duration_seconds", "display_name")


def view(**fields: object) -> dict[str, object]:
    return {
        "id": "a" * 32, "name": "a" * 32, "display_name": None, "experiment_name": "e", "experiment_id": "1",
        "status": "completed", "compute": "local", "command": "python t.py", "code_hash": None,
        "created_at": "2026-01-01T00:00:00Z", "preparing_at": None, "started_at": None, "ended_at": None,
        "duration_seconds": None, "exit_code": None, "failure_reason": None, "inputs": {}, "outputs": [], "tags": {},
        "mlflow_run_url": "http://x/mlflow",
    } | fields  # fmt: skip


def test_the_path_and_parameters_are_the_declared_operation_s() -> None:
    assert api.jobs.LIST.method == "GET" and api.jobs.LIST.path == LIST_PATH
    assert {"limit", "status"} <= set(api.jobs.LIST.query)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"created_at": "2026-12-07T02:37:40.123456Z", "duration_seconds": 12.5, "display_name": "shown"},
        {"created_at": "2026-12-07T02:37:40+02:00", "duration_seconds": 3, "status": "failed", "name": "given"},
        {"created_at": "2026-12-07T02:37:40.5", "status": "queued"},  # a time without zone, as SQLite may keep it
    ],
)
def test_a_row_holds_what_the_view_holds(fields: dict[str, object]) -> None:
    item = view(**fields)
    row, full = JobRow(item), JobView.model_validate(item)
    for name in SHOWN:
        assert getattr(row, name) == getattr(full, name), name
        assert type(getattr(row, name)) is type(getattr(full, name)), name


class _Rest:
    url = "http://127.0.0.1:9"

    def __init__(self, answer: object) -> None:
        self.answer, self.asked = answer, []

    def get_json(self, path: str, params: dict[str, object]) -> object:
        self.asked.append((path, params))
        return json.loads(json.dumps(self.answer))


def test_rows_are_asked_for_with_the_list_s_parameters() -> None:
    rest = _Rest([view(), view(name="b" * 32, status="running")])
    rows = list_job_rows(rest, "running", 7)  # type: ignore[arg-type]
    assert rest.asked == [(LIST_PATH, {"limit": 7, "status": "running"})]
    assert [row.name for row in rows] == ["a" * 32, "b" * 32]


@pytest.mark.parametrize("answer", [[{"name": "x"}], [view(status="sleeping")], {"error": "?"}, None])
def test_an_answer_that_is_not_a_job_list_is_a_clear_error(answer: object) -> None:
    with pytest.raises(Unavailable, match="answered a job list this kiln cannot read"):
        list_job_rows(_Rest(answer), None, 5)  # type: ignore[arg-type]
