"""An imported schedule (``kiln.schedules.transfer``): its enabled state kept, its missed runs not run (its next run is
the target's next time after now), its past runs kept; disabled, saying why, where its creator may not submit jobs
on the target or its timetable has ended; the same schedule found there, another one under its name a conflict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kiln.schedules.service import ScheduleService
from kiln.schedules.store import ScheduleRepository, ScheduleRow, ScheduleRunRow
from kiln.schedules.transfer import Schedules
from kiln.store.database import create_database_engine, migrate, session_factory
from kiln.transfer.rows import row_record

SOURCE_NOW = datetime(2030, 1, 1, 0, 30, tzinfo=UTC)
TARGET_NOW = datetime(2031, 6, 1, 12, 0, 30, tzinfo=UTC)
HOURLY = {"type": "cron", "expression": "0 * * * *"}


@dataclass
class Target:
    """What the part uses of the target's ScheduleService."""

    repository: ScheduleRepository
    refusals: dict[str, str] = field(default_factory=dict)  # creator -> why they may not submit here
    timetable = staticmethod(ScheduleService.timetable)

    def now(self) -> datetime:
        return TARGET_NOW

    def creator_refusal(self, creator: str | None) -> str | None:
        return self.refusals.get(creator or "")


@pytest.fixture
def repositories(tmp_path: Path) -> tuple[ScheduleRepository, ScheduleRepository]:
    """The source's and the target's schedules."""
    found = []
    for side in ("source", "target"):
        engine = create_database_engine(f"sqlite:///{tmp_path / f'{side}.db'}")
        migrate(engine)
        found.append(ScheduleRepository(session_factory(engine)))
    return found[0], found[1]


def schedule(name: str, enabled: bool = True, trigger: dict[str, Any] = HOURLY, creator: str = "ana") -> ScheduleRow:
    spec = {"name": name, "trigger": trigger, "create_job": {"command": "echo hi", "type": "command"}}
    return ScheduleRow(
        name=name, spec=spec, job_type="command", enabled=enabled,
        next_run_at=SOURCE_NOW + timedelta(minutes=30) if enabled else None, created_by=creator,
        created_at=SOURCE_NOW, updated_at=SOURCE_NOW,
        stopped_reason=None if enabled else "disabled by hand",
    )  # fmt: skip


def exported(source: ScheduleRepository, *rows: ScheduleRow) -> list[dict[str, Any]]:
    for row in rows:
        source.add(row)
    source.record_run(
        ScheduleRunRow(schedule=rows[0].name, due_at=SOURCE_NOW, started_at=SOURCE_NOW, job="j-1", missed=0)
    )
    return Schedules(Target(source)).export()  # type: ignore[arg-type]


def test_an_enabled_schedule_stays_enabled_and_runs_next_after_the_import_not_its_missed_runs(
    repositories: tuple[ScheduleRepository, ScheduleRepository],
) -> None:
    source, target = repositories
    records = exported(source, schedule("hourly"), schedule("paused", enabled=False))
    part = Schedules(Target(target))  # type: ignore[arg-type]
    assert [part.plan(record, {}) for record in records] == [("new", ""), ("new", "")]
    for record in records:
        part.write(record)
    hourly, paused = target.get("hourly"), target.get("paused")
    assert hourly is not None and paused is not None
    assert hourly.enabled and hourly.next_run_at == datetime(2031, 6, 1, 13, 0, tzinfo=UTC)
    assert (hourly.last_job, hourly.created_by, hourly.created_at) == ("j-1", "ana", SOURCE_NOW)
    assert [run.job for run in target.all_runs("hourly")] == ["j-1"]
    assert not paused.enabled and paused.next_run_at is None and paused.stopped_reason == "disabled by hand"
    assert [part.plan(record, {}) for record in records] == [("there", ""), ("there", "")]
    other = {
        **records[0],
        "schedule": {
            **records[0]["schedule"],
            "spec": {**records[0]["schedule"]["spec"], "trigger": {"type": "cron", "expression": "5 * * * *"}},
        },
    }
    assert part.plan(other, {}) == ("conflict", "the target's schedule of that name has another trigger or job")


def test_a_schedule_arrives_disabled_saying_why_when_its_creator_may_not_submit_or_it_has_ended(
    repositories: tuple[ScheduleRepository, ScheduleRepository],
) -> None:
    source, target = repositories
    ended = {**HOURLY, "end_time": "2030-06-01T00:00:00"}
    records = exported(source, schedule("theirs", creator="bo"), schedule("ended", trigger=ended))
    part = Schedules(Target(target, refusals={"bo": "its creator 'bo' is no longer a user of this workspace"}))  # type: ignore[arg-type]
    for record in records:
        part.write(record)
    theirs, over = target.get("theirs"), target.get("ended")
    assert theirs is not None and over is not None
    assert not theirs.enabled and theirs.next_run_at is None
    assert theirs.stopped_reason == "imported disabled: its creator 'bo' is no longer a user of this workspace"
    assert not over.enabled and over.stopped_reason is not None and "trigger.end_time" in over.stopped_reason
    assert row_record(theirs)["created_by"] == "bo"
