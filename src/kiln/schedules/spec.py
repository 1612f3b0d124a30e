"""A schedule's YAML, with Azure ML's field names (``$schema`` accepted): what the CLI reads, the REST body, the
stored spec. ``create_job`` is a job file (a path, relative to the schedule's file: the client reads it and
uploads its code) or an inline job of any kind kiln knows; the REST body always holds the job itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from kiln.specs.bounded import Name, PathText, ShortText, StrictModel, Tags, Text

SCHEDULE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$"  # its jobs are named SCHEDULE-YYYYMMDDHHMM
Frequency = Literal["minute", "hour", "day", "week", "month"]
WeekDay = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MAX_INTERVAL = 100_000


class _TriggerBase(StrictModel):
    start_time: datetime | None = Field(None, description="no run before it (naive: in time_zone); default: created")
    end_time: datetime | None = Field(None, description="no run after it: the schedule ends (naive: in time_zone)")
    time_zone: ShortText | None = Field(None, description="an IANA time zone (default UTC)")


class CronTrigger(_TriggerBase):
    type: Literal["cron"]
    expression: ShortText = Field(description="five fields: minute hour day-of-month month day-of-week")


class RecurrencePattern(StrictModel):
    hours: list[Annotated[int, Field(ge=0, le=23)]] = Field(default_factory=list, max_length=24)
    minutes: list[Annotated[int, Field(ge=0, le=59)]] = Field(default_factory=list, max_length=60)
    week_days: list[WeekDay] = Field(default_factory=list, max_length=7)
    month_days: list[Annotated[int, Field(ge=1, le=31)]] = Field(default_factory=list, max_length=31)


class RecurrenceTrigger(_TriggerBase):
    type: Literal["recurrence"]
    frequency: Frequency
    interval: int = Field(ge=1, le=MAX_INTERVAL, description="every INTERVAL minutes, hours, days, weeks or months")
    schedule: RecurrencePattern | None = None


def _trigger_kind(value: Any) -> str | None:
    """The member a trigger is, by its ``type``; tags named as classes, so errors name ``trigger.FIELD``."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return {"cron": "CronTrigger", "recurrence": "RecurrenceTrigger"}.get(kind) if isinstance(kind, str) else None


Trigger = Annotated[
    Annotated[CronTrigger, Tag("CronTrigger")] | Annotated[RecurrenceTrigger, Tag("RecurrenceTrigger")],
    Discriminator(
        _trigger_kind, custom_error_type="trigger_type",
        custom_error_message="type must be cron (with expression) or recurrence (with frequency and interval)",
    ),
]  # fmt: skip


class ScheduleSpec(StrictModel):
    """``kiln schedule create -f FILE``'s file (Azure ML's ``JobSchedule``)."""

    schema_: PathText | None = Field(None, alias="$schema")
    name: Name = Field(pattern=SCHEDULE_NAME_PATTERN)
    display_name: ShortText | None = None
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)
    trigger: Trigger
    create_job: PathText | dict[str, Any] = Field(
        description="a job file (relative to this file) or an inline job of any kind; over REST: the job itself"
    )
