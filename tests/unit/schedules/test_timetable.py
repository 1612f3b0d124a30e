"""When a schedule's runs fall: cron fields (lists, ranges, steps, names, macros, Vixie cron's either-day rule),
time zones across a daylight-saving change, Azure's recurrences (minute to month, with a schedule of hours,
minutes, week days and month days), start and end times; and the refusals, each naming the trigger's field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kiln.errors import InvalidSpec
from kiln.schedules.spec import ScheduleSpec
from kiln.schedules.timetable import Timetable
from kiln.specs.yaml_source import parse_yaml, validate_model

CREATED = datetime(2030, 1, 1, tzinfo=UTC)  # a Tuesday


def timetable(trigger: dict[str, Any], created: datetime = CREATED) -> Timetable:
    spec = ScheduleSpec.model_validate({"name": "t", "trigger": trigger, "create_job": "job.yml"})
    return Timetable.of(spec.trigger, created)


def runs(trigger: dict[str, Any], until: datetime, after: datetime = CREATED) -> list[str]:
    return [f"{moment:%Y-%m-%d %H:%M}" for moment in timetable(trigger).runs_between(after, until)]


def test_cron_every_minute_and_lists_ranges_steps_and_names() -> None:
    assert runs({"type": "cron", "expression": "* * * * *"}, CREATED + timedelta(minutes=3)) == [
        "2030-01-01 00:01", "2030-01-01 00:02", "2030-01-01 00:03",
    ]  # fmt: skip
    assert runs({"type": "cron", "expression": "*/20 9-10 * * *"}, CREATED + timedelta(hours=11)) == [
        "2030-01-01 09:00", "2030-01-01 09:20", "2030-01-01 09:40",
        "2030-01-01 10:00", "2030-01-01 10:20", "2030-01-01 10:40",
    ]  # fmt: skip
    assert runs({"type": "cron", "expression": "30 6 * jan-feb SAT,sun"}, CREATED + timedelta(days=8)) == [
        "2030-01-05 06:30", "2030-01-06 06:30",
    ]  # fmt: skip
    assert runs({"type": "cron", "expression": "@monthly"}, CREATED + timedelta(days=62)) == [
        "2030-02-01 00:00", "2030-03-01 00:00",
    ]  # fmt: skip


def test_cron_with_both_day_fields_runs_on_either_as_vixie_cron_does() -> None:
    # the 10th of the month or any Friday, in January 2030
    found = runs({"type": "cron", "expression": "0 0 10 * 5"}, datetime(2030, 1, 31, tzinfo=UTC))
    assert found == ["2030-01-04 00:00", "2030-01-10 00:00", "2030-01-11 00:00", "2030-01-18 00:00",
                     "2030-01-25 00:00"]  # fmt: skip


def test_cron_in_a_time_zone_keeps_the_wall_clock_across_daylight_saving() -> None:
    trigger = {"type": "cron", "expression": "0 3 * * *", "time_zone": "Europe/Paris"}
    found = runs(trigger, datetime(2030, 3, 31, 12, tzinfo=UTC), after=datetime(2030, 3, 29, 12, tzinfo=UTC))
    assert found == ["2030-03-30 02:00", "2030-03-31 01:00"]  # 03:00 CET, then 03:00 CEST


def test_azures_windows_time_zone_names_are_read_as_their_iana_zones() -> None:
    trigger = {"type": "cron", "expression": "0 9 * * *", "time_zone": "Pacific Standard Time"}
    assert runs(trigger, datetime(2030, 1, 2, tzinfo=UTC)) == ["2030-01-01 17:00"]  # 09:00 PST
    assert timetable({**trigger, "time_zone": "Romance Standard Time"}).zone.key == "Europe/Paris"


def test_recurrences_from_minutes_to_months() -> None:
    every_five = {"type": "recurrence", "frequency": "minute", "interval": 5}
    assert runs(every_five, CREATED + timedelta(minutes=16)) == ["2030-01-01 00:05", "2030-01-01 00:10",
                                                                  "2030-01-01 00:15"]  # fmt: skip
    fortnightly = {"type": "recurrence", "frequency": "week", "interval": 2,
                   "schedule": {"hours": [10], "minutes": [30], "week_days": ["monday", "friday"]}}  # fmt: skip
    assert runs(fortnightly, datetime(2030, 2, 1, tzinfo=UTC)) == [
        "2030-01-04 10:30", "2030-01-14 10:30", "2030-01-18 10:30", "2030-01-28 10:30",
    ]  # fmt: skip
    month_end = {"type": "recurrence", "frequency": "month", "interval": 1,
                 "schedule": {"month_days": [31], "hours": [0], "minutes": [0]}}  # fmt: skip
    assert runs(month_end, datetime(2030, 6, 1, tzinfo=UTC)) == ["2030-01-31 00:00", "2030-03-31 00:00",
                                                                  "2030-05-31 00:00"]  # fmt: skip
    daily = {"type": "recurrence", "frequency": "day", "interval": 3, "start_time": "2030-01-02T08:15:00"}
    assert runs(daily, datetime(2030, 1, 9, tzinfo=UTC)) == ["2030-01-02 08:15", "2030-01-05 08:15",
                                                              "2030-01-08 08:15"]  # fmt: skip


def test_start_and_end_times_bound_the_runs() -> None:
    trigger = {"type": "cron", "expression": "0 * * * *", "start_time": "2030-01-01T05:30:00",
               "end_time": "2030-01-01T08:00:00"}  # fmt: skip
    assert runs(trigger, datetime(2030, 1, 2, tzinfo=UTC)) == ["2030-01-01 06:00", "2030-01-01 07:00",
                                                                "2030-01-01 08:00"]  # fmt: skip
    assert timetable(trigger).next_after(datetime(2030, 1, 1, 8, tzinfo=UTC)) is None  # ended


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"type": "cron", "expression": "every night"}, "trigger.expression: 'every night' is not a cron expression"),
        ({"type": "cron", "expression": "0 24 * * *"}, "trigger.expression: the hour field '24' has 24, outside 0-23"),
        ({"type": "cron", "expression": "*/0 * * * *"}, "the minute field '*/0' has the step '0'"),
        ({"type": "cron", "expression": "0 0 * * fry"}, "the day of week field 'fry' has 'fry', which is not a number"),
        ({"type": "cron", "expression": "0 0 31 2 *"}, "trigger: the timetable has no run"),
        ({"type": "cron", "expression": "* * * * *", "time_zone": "Nowhere/Land"}, "trigger.time_zone: unknown"),
        ({"type": "cron", "expression": "* * * * *", "start_time": "2030-02-01T00:00:00",
          "end_time": "2030-01-01T00:00:00"}, "trigger.end_time: "),
    ],
)  # fmt: skip
def test_bad_triggers_are_refused_naming_the_field(trigger: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec) as refused:
        table = timetable(trigger)
        if table.next_after(CREATED) is None:
            raise InvalidSpec("trigger: the timetable has no run")
    assert message in refused.value.message, refused.value.message


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ("{type: recurrence, frequency: fortnight, interval: 1}", "line 4: field 'trigger.frequency': Input should be"),
        ("{type: recurrence, frequency: day, interval: 0}", "field 'trigger.interval': Input should be greater"),
        ("{type: hourly}", "field 'trigger': type must be cron (with expression) or recurrence"),
        ("{type: cron}", "required field 'trigger.expression' is missing"),
    ],
)
def test_bad_schedule_files_are_refused_with_the_field_and_line(trigger: str, message: str) -> None:
    source = parse_yaml(f"$schema: https://x\nname: nightly\ncreate_job: job.yml\ntrigger: {trigger}\n")
    with pytest.raises(InvalidSpec) as refused:
        validate_model(ScheduleSpec, source)
    assert message in refused.value.message, refused.value.message
