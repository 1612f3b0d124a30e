"""The schedules capability's REST operations, declared as kiln.api's are (no server imported here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from kiln.api.operation import NO_CONTENT, Operation
from kiln.errors import AlreadyExists
from kiln.schedules.spec import ScheduleSpec
from kiln.specs.roles import Role

RUNS_SHOWN = 20  # the latest runs a schedule's view lists


class ScheduleRunView(BaseModel):
    """One run a schedule started: the job it submitted, or why none was."""

    due_at: datetime = Field(description="the time on the timetable it was started for")
    started_at: datetime = Field(description="when the server submitted it")
    job: str | None = Field(None, description="the job's name (None: refused, see reason)")
    missed: int = Field(0, description="earlier runs of the timetable that fell while no server ran, folded into it")
    reason: str | None = None


class ScheduleView(BaseModel):
    name: str
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, Any]
    job_type: str = Field(description="the kind of job each run submits")
    create_job: dict[str, Any] = Field(description="the job each run submits (code already uploaded)")
    enabled: bool
    next_run_at: datetime | None = Field(None, description="None: disabled, or ended (past its end_time)")
    last_run_at: datetime | None = None
    last_job: str | None = None
    stopped_reason: str | None = Field(None, description="why the server stopped it (its creator may no longer)")
    created_by: str | None = None
    created_at: datetime
    runs: list[ScheduleRunView] = Field(default_factory=list, description=f"the latest {RUNS_SHOWN} runs, newest first")


CREATE = Operation(
    "schedules.create", "POST", "/api/v1/schedules",
    summary="Create a schedule: a job submitted on a cron or recurrence timetable by the workspace server",
    description="The job is checked as a submit checks it (a dry run) before the schedule is recorded; each run "
    "submits it as the schedule's creator, while the creator may still submit jobs.",
    role=Role.CONTRIBUTOR, action="creating schedules",
    response=ScheduleView, status_code=201, body=ScheduleSpec, errors=(AlreadyExists,),
)  # fmt: skip
LIST = Operation(
    "schedules.list", "GET", "/api/v1/schedules",
    summary="List the schedules with their next and last runs",
    role=Role.READER, action="reading schedules", response=list[ScheduleView],
)  # fmt: skip
SHOW = Operation(
    "schedules.show", "GET", "/api/v1/schedules/{name}",
    summary="Read a schedule and its latest runs",
    role=Role.READER, action="reading schedules", response=ScheduleView,
)  # fmt: skip
DISABLE = Operation(
    "schedules.disable", "POST", "/api/v1/schedules/{name}/disable",
    summary="Stop a schedule's runs (it is kept; enable starts them again)",
    role=Role.CONTRIBUTOR, action="changing schedules", response=ScheduleView,
)  # fmt: skip
ENABLE = Operation(
    "schedules.enable", "POST", "/api/v1/schedules/{name}/enable",
    summary="Start a disabled schedule's runs again, from the next time on its timetable",
    role=Role.CONTRIBUTOR, action="changing schedules", response=ScheduleView,
)  # fmt: skip
DELETE = Operation(
    "schedules.delete", "DELETE", "/api/v1/schedules/{name}",
    summary="Delete a schedule (the jobs it started are kept)",
    role=Role.CONTRIBUTOR, action="changing schedules", response=NO_CONTENT, status_code=204,
)  # fmt: skip
