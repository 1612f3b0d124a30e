"""When a schedule's runs are due: a cron expression (five fields, Vixie cron's rules) or Azure ML's recurrence
(``frequency`` × ``interval`` with an optional ``schedule`` of hours, minutes, week days and month days), in the
schedule's time zone, between its ``start_time`` and ``end_time``. Pure arithmetic, no I/O: each refusal is an
InvalidSpec that names the trigger's field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiln.errors import InvalidSpec
from kiln.schedules.spec import CronTrigger, RecurrenceTrigger, Trigger

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's 0-6 (7 is Sunday too)
AZURE_WEEK_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
SEARCH_DAYS = 366 * 8  # the farthest a next run is looked for (29 February on a Monday: at most 28 years away
# would be cron's worst case; a timetable with no run in 8 years is refused as having none)


# Azure ML's schedule files name Windows time zones: the common ones, as CLDR's windowsZones maps them
WINDOWS_ZONES = {
    "UTC": "UTC", "Coordinated Universal Time": "UTC", "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik", "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw", "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev", "GTB Standard Time": "Europe/Bucharest", "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul", "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg", "Arabian Standard Time": "Asia/Dubai",
    "India Standard Time": "Asia/Kolkata", "China Standard Time": "Asia/Shanghai", "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul", "Singapore Standard Time": "Asia/Singapore",
    "AUS Eastern Standard Time": "Australia/Sydney", "E. Australia Standard Time": "Australia/Brisbane",
    "W. Australia Standard Time": "Australia/Perth", "New Zealand Standard Time": "Pacific/Auckland",
    "Eastern Standard Time": "America/New_York", "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver", "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles", "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu", "Atlantic Standard Time": "America/Halifax",
    "E. South America Standard Time": "America/Sao_Paulo", "Argentina Standard Time": "America/Buenos_Aires",
}  # fmt: skip


def zone_of(name: str | None, where: str = "trigger.time_zone") -> ZoneInfo:
    """The time zone ``name``: an IANA name (Europe/Paris) or one of Azure's Windows names (Romance Standard
    Time); default UTC."""
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name or "UTC", name or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSpec(
            f"{where}: unknown time zone '{name}'; write an IANA name such as UTC, Europe/Paris or America/New_York "
            "(or a Windows name Azure ML uses, such as Pacific Standard Time)"
        ) from None


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """``moment`` (aware) as a naive wall-clock time in ``zone``."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _utc(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


def aware(moment: datetime, zone: ZoneInfo) -> datetime:
    """A start or end time: naive ones are wall-clock times in the schedule's zone (as Azure reads them)."""
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


# Cron ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CronFields:
    minutes: frozenset[int]
    hours: frozenset[int]
    month_days: frozenset[int]
    months: frozenset[int]
    week_days: frozenset[int]  # 0 = Sunday
    any_month_day: bool
    any_week_day: bool

    def day_matches(self, day: date) -> bool:
        """Vixie cron: with both day fields restricted, either one matching is enough."""
        if day.month not in self.months:
            return False
        by_month_day, by_week_day = day.day in self.month_days, (day.isoweekday() % 7) in self.week_days
        if self.any_month_day or self.any_week_day:
            return by_month_day and by_week_day
        return by_month_day or by_week_day


CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
               ("month", 1, 12, MONTH_NAMES), ("day of week", 0, 7, DAY_NAMES))  # fmt: skip


def parse_cron(expression: str, where: str = "trigger.expression") -> CronFields:
    """The five fields of ``expression`` (``*``, lists, ranges, steps, month and day names; ``@hourly``,
    ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``)."""
    text = MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise InvalidSpec(
            f"{where}: '{expression}' is not a cron expression: it needs 5 fields (minute hour day-of-month month "
            f"day-of-week), found {len(parts)}; e.g. '0 3 * * *' is every day at 03:00"
        )
    values = [_cron_field(part, *spec, where=where) for part, spec in zip(parts, CRON_FIELDS, strict=True)]
    week_days = frozenset(day % 7 for day in values[4])
    return CronFields(
        values[0], values[1], values[2], values[3], week_days, any_month_day=parts[2] in ("*", "?"),
        any_week_day=parts[4] in ("*", "?"),
    )  # fmt: skip


MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
          "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}  # fmt: skip


def _cron_field(text: str, label: str, low: int, high: int, names: tuple[str, ...], where: str) -> frozenset[int]:
    def number(token: str) -> int:
        lowered = token.lower()
        if lowered in names:
            return names.index(lowered) + (1 if label == "month" else 0)
        if not token.isdigit():
            raise InvalidSpec(f"{where}: the {label} field '{text}' has '{token}', which is not a number")
        value = int(token)
        if not low <= value <= high:
            raise InvalidSpec(f"{where}: the {label} field '{text}' has {value}, outside {low}-{high}")
        return value

    found: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidSpec(f"{where}: the {label} field '{text}' has the step '{step_text}'; write /1 or more")
            step = int(step_text)
        if span in ("*", "?"):
            start, end = low, high if label != "day of week" else 6
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = number(first), number(last)
            if start > end:
                raise InvalidSpec(f"{where}: the {label} field '{text}' has the range {span}, which runs backwards")
        else:
            start = number(span)
            end = high if step_text else start
        found.update(range(start, end + 1, step))
    return frozenset(found)


def next_cron(fields: CronFields, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The first time strictly after ``after`` (aware) that the fields name, in ``zone``, as UTC."""
    wall = _local(after, zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = wall + timedelta(days=SEARCH_DAYS)
    hours, minutes = sorted(fields.hours), sorted(fields.minutes)
    while wall < limit:
        if not fields.day_matches(wall.date()):
            wall = datetime.combine(wall.date() + timedelta(days=1), datetime.min.time())
            continue
        for hour in (h for h in hours if h >= wall.hour):
            for minute in (m for m in minutes if hour > wall.hour or m >= wall.minute):
                candidate = _utc(wall.replace(hour=hour, minute=minute), zone)
                if candidate > after:
                    return candidate
        wall = datetime.combine(wall.date() + timedelta(days=1), datetime.min.time())
    return None


# Recurrence --------------------------------------------------------------------------------------------
def _period_index(frequency: str, day: date, anchor: date) -> int:
    if frequency == "day":
        return (day - anchor).days
    if frequency == "week":
        monday, anchor_monday = day - timedelta(days=day.weekday()), anchor - timedelta(days=anchor.weekday())
        return (monday - anchor_monday).days // 7
    return (day.year * 12 + day.month) - (anchor.year * 12 + anchor.month)


def next_recurrence(trigger: RecurrenceTrigger, anchor: datetime, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The first run strictly after ``after``: every ``interval`` minutes or hours from ``anchor``; or on the days
    every ``interval`` days, weeks or months from ``anchor``'s that the ``schedule`` names, at its hours and
    minutes (by default ``anchor``'s time of day)."""
    if trigger.frequency in ("minute", "hour"):
        step = timedelta(minutes=trigger.interval) * (60 if trigger.frequency == "hour" else 1)
        if after < anchor:
            return anchor
        return anchor + step * ((after - anchor) // step + 1)
    schedule = trigger.schedule
    local_anchor = _local(anchor, zone)
    hours = sorted(set(schedule.hours)) if schedule and schedule.hours else [local_anchor.hour]
    minutes = sorted(set(schedule.minutes)) if schedule and schedule.minutes else [local_anchor.minute]
    week_days = {AZURE_WEEK_DAYS.index(day) for day in schedule.week_days} if schedule and schedule.week_days else None
    month_days = set(schedule.month_days) if schedule and schedule.month_days else None
    if trigger.frequency == "week" and week_days is None:
        week_days = {local_anchor.isoweekday() % 7}
    if trigger.frequency == "month" and month_days is None:
        month_days = {local_anchor.day}
    day = max(_local(after, zone).date(), local_anchor.date())
    for _ in range(SEARCH_DAYS):
        if (
            _period_index(trigger.frequency, day, local_anchor.date()) % trigger.interval == 0
            and (week_days is None or day.isoweekday() % 7 in week_days)
            and (month_days is None or day.day in month_days)
        ):
            for hour in hours:
                for minute in minutes:
                    candidate = _utc(datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute), zone)
                    if candidate > after and candidate >= anchor.replace(second=0, microsecond=0):
                        return candidate
        day += timedelta(days=1)
    return None


# The timetable -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timetable:
    """A checked trigger: ``next_after`` answers its next run (UTC) or None once ``end_time`` has passed."""

    trigger: Trigger
    zone: ZoneInfo
    anchor: datetime  # start_time, or when the schedule was created
    end: datetime | None
    cron: CronFields | None

    @classmethod
    def of(cls, trigger: Trigger, created_at: datetime) -> Timetable:
        zone = zone_of(trigger.time_zone)
        start = aware(trigger.start_time, zone) if trigger.start_time else None
        end = aware(trigger.end_time, zone) if trigger.end_time else None
        if start and end and end <= start:
            raise InvalidSpec(f"trigger.end_time: {trigger.end_time} is not after trigger.start_time")
        cron = parse_cron(trigger.expression) if isinstance(trigger, CronTrigger) else None
        return cls(trigger, zone, start or created_at, end, cron)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first run strictly after ``moment`` (and not before ``start_time``), None past ``end_time``."""
        if self.cron is not None:
            after = max(moment, self.anchor - timedelta(microseconds=1))
            found = next_cron(self.cron, after, self.zone)
        else:
            assert isinstance(self.trigger, RecurrenceTrigger)
            found = next_recurrence(self.trigger, self.anchor, moment, self.zone)
        if found is None or (self.end is not None and found > self.end):
            return None
        return found

    def runs_between(self, after: datetime, until: datetime) -> Iterable[datetime]:
        """Every run in (``after``, ``until``], oldest first (what a missed stretch held)."""
        moment = self.next_after(after)
        while moment is not None and moment <= until:
            yield moment
            moment = self.next_after(moment)
