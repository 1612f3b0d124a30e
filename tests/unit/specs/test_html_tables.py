"""The SDK's objects as Jupyter draws them (``_repr_html_``): each view a table of its fields, a list of them one
table, every value escaped; and the client-side check that a code folder can be read before it is uploaded."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from kiln.errors import InvalidSpec
from kiln.sdk.jobs import Job
from kiln.sdk.uploads import ensure_readable
from kiln.specs.data import DataAssetView
from kiln.specs.endpoint import OnlineDeploymentView, OnlineEndpointView
from kiln.specs.environment import EnvironmentView
from kiln.specs.html_tables import MAX_CELL, MAX_ROWS, Listing
from kiln.specs.model import ModelVersionView, ModelView
from kiln.specs.views import JobOutputView, JobPlanView, JobStatus, JobView

EVIL = "<script>alert('x')</script>"
WHEN = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


class Cells(HTMLParser):
    """The text of each cell and caption, and every tag, as a browser would read the HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self.caption = ""
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th", "caption"):
            self._in = tag
            if tag != "caption":
                self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "caption":
            self.caption += data
        elif self._in:
            self.rows[-1][-1] += data


def job_view(name: str = "iris-1", status: JobStatus = JobStatus.COMPLETED) -> JobView:
    return JobView(
        id="abc123", name=name, display_name=None, experiment_name="iris", experiment_id="1", status=status,
        compute="local", command="python train.py", code_hash=None, created_at=WHEN, preparing_at=None,
        started_at=WHEN, ended_at=WHEN, duration_seconds=2.5, exit_code=0, failure_reason=None,
        inputs={"C": 0.5}, outputs=[JobOutputView(name="default", type="uri_folder", available=True)], tags={},
        mlflow_run_url="http://127.0.0.1:1/mlflow/#/experiments/1/runs/abc123",
    )  # fmt: skip


def test_a_job_shows_as_a_table_of_its_fields_and_a_list_of_jobs_as_one_table() -> None:
    job = Job(operations=None, view=job_view())  # type: ignore[arg-type]
    cells = Cells(job._repr_html_())
    fields = {row[0]: row[1] for row in cells.rows}
    assert cells.caption == "JobView"
    assert fields["name"] == "iris-1" and fields["status"] == "completed" and fields["inputs"] == '{"C": 0.5}'
    assert fields["created_at"] == "2026-12-07 06:00:00+00:00"
    assert "failure_reason" not in fields  # empty fields are left out

    jobs = Listing([job, Job(operations=None, view=job_view("iris-2", JobStatus.FAILED))])  # type: ignore[arg-type]
    table = Cells(jobs._repr_html_())
    assert table.caption == "2 × JobView"
    assert table.rows[0] == list(JobView.html_columns)
    assert [row[:3] for row in table.rows[1:]] == [["iris-1", "command", "completed"], ["iris-2", "command", "failed"]]
    assert Listing()._repr_html_() == "<p>(none)</p>"


def test_every_view_the_sdk_returns_escapes_what_it_shows() -> None:
    views = [
        job_view(EVIL),
        JobPlanView(type="command", name=None, display_name=EVIL, experiment_name="x", compute="local",
                    command=EVIL, code_hash=None, inputs={}, outputs={}),
        ModelView.model_construct(name=EVIL, description=EVIL),
        ModelVersionView.model_construct(name="m", version="1", description=EVIL, tags={EVIL: EVIL}, created_at=WHEN),
        DataAssetView.model_construct(name=EVIL, version="1", type="uri_file", description=EVIL, content_hash="0", created_at=WHEN),
        EnvironmentView.model_construct(name=EVIL, version="1", hash="0", python="3.12", description=EVIL, created_at=WHEN),
        OnlineEndpointView.model_construct(name="ep", description=EVIL, scoring_uri="http://x/score", created_at=WHEN),
        OnlineDeploymentView.model_construct(name="blue", endpoint_name="ep", model=EVIL, created_at=WHEN),
    ]  # fmt: skip
    for view in views:
        record = view._repr_html_()
        assert "<script" not in record and "&lt;script&gt;" in record, type(view).__name__
        shown = "".join(cell for row in Cells(record).rows for cell in row)
        assert EVIL in shown  # a browser reads the text as it was typed
        listing = Listing([view, view])._repr_html_()
        assert "<script" not in listing and "script" not in Cells(listing).tags, type(view).__name__


def test_long_values_and_long_lists_are_cut() -> None:
    long = Cells(job_view("x").model_copy(update={"command": "y" * 5000})._repr_html_())
    command = next(row[1] for row in long.rows if row[0] == "command")
    assert len(command) == MAX_CELL and command.endswith("…")
    many = Cells(Listing([job_view(f"job-{i}") for i in range(MAX_ROWS + 5)])._repr_html_())
    assert len(many.rows) == 1 + MAX_ROWS + 1 and many.rows[-1] == ["… and 5 more"]


def test_a_code_folder_that_cannot_be_read_is_refused_before_any_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "code" / "data").mkdir(parents=True)
    (tmp_path / "code" / "train.py").write_text("print(1)\n")
    (tmp_path / "code" / "data" / "secret.csv").write_text("a\n")
    (tmp_path / "code" / "__pycache__").mkdir()
    ensure_readable(tmp_path / "code", "job.yml, line 2: code")  # all readable: nothing said
    blocked = {tmp_path / "code" / "data" / "secret.csv", tmp_path / "code" / "__pycache__"}
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) not in blocked and real_access(path, mode))
    with pytest.raises(InvalidSpec) as refused:
        ensure_readable(tmp_path / "code", "job.yml, line 2: code")
    assert refused.value.message == (
        f"job.yml, line 2: code: '{tmp_path / 'code' / 'data' / 'secret.csv'}' cannot be read (permission denied); "
        "make it readable (chmod u+r) or move it out"
    )  # an unreadable __pycache__ is skipped, as the upload skips it
