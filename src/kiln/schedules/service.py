"""Schedules in the workspace server: create, list, show, disable, enable, delete, and the loop that starts each
due run as a normal kiln job submitted as the schedule's creator.

- **Exactly once**: a due run is claimed by moving the schedule's ``next_run_at`` with a conditional ``UPDATE``
  (``kiln.schedules.store``); on several servers sharing one database only the one whose update changed the row
  submits the job, which is also named after its time on the timetable (``NAME-YYYYMMDDHHMM``), so a second
  submission of the same run could only be refused.
- **Missed runs** (no server ran at their time): folded into ONE run, started as soon as a server runs, for the
  latest missed time (``missed`` on the run says how many were folded); then the timetable goes on from now.
- **The creator**: each run is submitted as the schedule's creator with their role now; a creator who is no
  longer a user, or no longer may submit jobs, stops the schedule (disabled, with the reason, and a run that
  says so), and it cannot be enabled again until recreated by someone who may.
- **The clock**: ``kiln.clock.utcnow``, unless ``KILN_SCHEDULES_CLOCK_FILE`` names a file holding an ISO 8601 time
  (tests only: the tests move the schedules' clock and watch the real server start real jobs)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiln.capabilities.services import CapabilityContext
from kiln.clock import utcnow
from kiln.errors import AlreadyExists, Conflict, InvalidSpec, KilnError, NotFound
from kiln.schedules.api import RUNS_SHOWN, ScheduleRunView, ScheduleView
from kiln.schedules.spec import ScheduleSpec
from kiln.schedules.store import ScheduleRepository, ScheduleRow, ScheduleRunRow
from kiln.schedules.timetable import Timetable
from kiln.specs.roles import Role
from kiln.specs.users import WORKSPACE_PRINCIPAL
from kiln.store.users import UserRepository

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
CLOCK_FILE_VARIABLE = "KILN_SCHEDULES_CLOCK_FILE"
SCHEDULE_TAG = "kiln.schedule"  # on each job a schedule started: the schedule's name
DUE_TAG = "kiln.schedule.due"  # its time on the timetable (ISO 8601, UTC)
SUBMITS = Role.CONTRIBUTOR  # the role that submitting jobs needs (api.jobs.CREATE's)


def schedule_clock() -> Callable[[], datetime]:
    """The clock schedules run by: the real one, or the time written in ``KILN_SCHEDULES_CLOCK_FILE``."""
    path = os.environ.get(CLOCK_FILE_VARIABLE)
    if not path:
        return utcnow

    def from_file() -> datetime:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            return utcnow()
        moment = datetime.fromisoformat(text) if text else utcnow()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    return from_file


def job_name(schedule: str, due: datetime) -> str:
    return f"{schedule}-{due.astimezone(UTC):%Y%m%d%H%M}"


def parse_scheduled_job(job: dict[str, Any]) -> Any:
    """``create_job`` as its kind's spec; errors name ``create_job.FIELD``."""
    from pydantic import ValidationError

    from kiln.specs.job_kinds import job_kind, job_type_of, refuse_other_azure_files
    from kiln.specs.yaml_source import explain_errors

    try:
        refuse_other_azure_files(job)
        spec_class = job_kind(job_type_of(job)).spec_class()
    except InvalidSpec as exc:
        raise InvalidSpec(f"create_job.type: {exc.message}") from None
    try:
        return spec_class.model_validate(job)
    except ValidationError as exc:
        raise explain_errors([{**e, "loc": ("create_job", *e["loc"])} for e in exc.errors()]) from None


class ScheduleService:
    def __init__(self, context: CapabilityContext, clock: Callable[[], datetime] | None = None) -> None:
        self.jobs = context.jobs
        sessions = context.data.assets.sessions
        self.repository = ScheduleRepository(sessions)
        self.users = UserRepository(sessions)
        self.now = clock or schedule_clock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="schedules", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    # REST ---------------------------------------------------------------------------------------
    def create(self, spec: ScheduleSpec, created_by: str, role: Role | None) -> ScheduleView:
        if not isinstance(spec.create_job, dict):
            raise InvalidSpec(
                f"create_job: '{spec.create_job}' is a path; over REST create_job is the job itself (its fields); "
                "kiln schedule create and the SDK read a job file and send its job"
            )
        now = self.now()
        timetable = Timetable.of(spec.trigger, now)
        first = timetable.next_after(now)
        if first is None:
            raise InvalidSpec("trigger.end_time: the timetable has no run left (its end_time has passed)")
        job = parse_scheduled_job(spec.create_job)
        try:
            plan = self.jobs.validate(job, created_by=created_by, role=role)  # every check of a submit, no record
        except KilnError as exc:
            raise type(exc)(f"create_job: {exc.message}") from None
        for field, path in plan.pending_uploads.items():  # each run submits this body: nothing may be left to send
            raise InvalidSpec(
                f"create_job.{field}: '{path}' is a path on the client; kiln schedule create and the SDK upload it, "
                "over REST upload it first (POST /api/v1/uploads) and send its upload: reference"
            )
        stored = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        stored.pop("$schema", None)
        stored["create_job"] = job.model_dump(mode="json", by_alias=True, exclude_none=True)
        row = ScheduleRow(
            name=spec.name, spec=stored, job_type=job.type, enabled=True, next_run_at=first, created_by=created_by,
            created_at=now, updated_at=now,
        )  # fmt: skip
        if not self.repository.add(row):
            raise AlreadyExists(f"schedule '{spec.name}' exists already (kiln schedule delete -n {spec.name} first)")
        return self.view(row)

    def list(self) -> list[ScheduleView]:
        return [self.view(row, runs=False) for row in self.repository.all()]

    def show(self, name: str) -> ScheduleView:
        return self.view(self._row(name))

    def disable(self, name: str) -> ScheduleView:
        self._row(name)
        self.repository.set_fields(name, enabled=False, next_run_at=None, updated_at=self.now())
        return self.show(name)

    def enable(self, name: str) -> ScheduleView:
        row = self._row(name)
        refusal = self.creator_refusal(row.created_by)
        if refusal is not None:
            raise Conflict(f"schedule '{name}': {refusal}; delete it and create it again as someone who may")
        now = self.now()
        following = self.timetable(row).next_after(now)
        if following is None:
            raise Conflict(f"schedule '{name}' has ended: its timetable has no run after now (trigger.end_time)")
        self.repository.set_fields(name, enabled=True, next_run_at=following, stopped_reason=None, updated_at=now)
        return self.show(name)

    def delete(self, name: str) -> None:
        if not self.repository.delete(name):
            raise NotFound(self._missing(name))

    def _row(self, name: str) -> ScheduleRow:
        row = self.repository.get(name)
        if row is None:
            raise NotFound(self._missing(name))
        return row

    @staticmethod
    def _missing(name: str) -> str:
        return f"schedule '{name}' not found (kiln schedule list shows the schedules there are)"

    def view(self, row: ScheduleRow, runs: bool = True) -> ScheduleView:
        spec = row.spec
        listed = self.repository.runs(row.name, RUNS_SHOWN) if runs else []
        return ScheduleView(
            name=row.name, display_name=spec.get("display_name"), description=spec.get("description"),
            tags=spec.get("tags", {}), trigger=spec["trigger"], job_type=row.job_type, create_job=spec["create_job"],
            enabled=row.enabled, next_run_at=row.next_run_at, last_run_at=row.last_run_at, last_job=row.last_job,
            stopped_reason=row.stopped_reason, created_by=row.created_by, created_at=row.created_at,
            runs=[
                ScheduleRunView(due_at=r.due_at, started_at=r.started_at, job=r.job, missed=r.missed, reason=r.reason)
                for r in listed
            ],
        )  # fmt: skip

    @staticmethod
    def timetable(row: ScheduleRow) -> Timetable:
        return Timetable.of(ScheduleSpec.model_validate(row.spec).trigger, row.created_at)

    # The loop ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            try:
                self.start_due_runs()
            except Exception:  # the database may be closing; the next round tries again
                log.exception("the schedules' round failed")

    def start_due_runs(self) -> None:
        now = self.now()
        for row in self.repository.due(now):
            try:
                self._start_due_run(row, now)
            except Exception:
                log.exception("schedule %s", row.name)

    def _start_due_run(self, row: ScheduleRow, now: datetime) -> None:
        assert row.next_run_at is not None
        timetable = self.timetable(row)
        later = list(timetable.runs_between(row.next_run_at, now))  # more than one due: no server ran at their time
        due = later[-1] if later else row.next_run_at
        if not self.repository.claim(row.name, row.next_run_at, timetable.next_after(now), now):
            return  # another server (or round) took it
        refusal = self.creator_refusal(row.created_by)
        if refusal is not None:
            reason = f"stopped: {refusal}"
            self.repository.set_fields(row.name, enabled=False, next_run_at=None, stopped_reason=reason, updated_at=now)
            self._record(row.name, due, len(later), None, reason)
            log.warning("schedule %s %s", row.name, reason)
            return
        job = dict(row.spec["create_job"])
        job["name"] = job_name(row.name, due)
        job["tags"] = {**job.get("tags", {}), SCHEDULE_TAG: row.name, DUE_TAG: due.astimezone(UTC).isoformat()}
        try:
            view = self.jobs.submit(parse_scheduled_job(job), row.created_by, self.creator_role(row.created_by))
        except AlreadyExists:
            self._record(row.name, due, len(later), None, f"a job named '{job['name']}' exists already")
        except KilnError as exc:
            self._record(row.name, due, len(later), None, f"the job was refused: {exc.message}")
        else:
            self._record(row.name, due, len(later), view.name, None)

    def _record(self, name: str, due: datetime, missed: int, job: str | None, reason: str | None) -> None:
        run = ScheduleRunRow(schedule=name, due_at=due, started_at=utcnow(), job=job, missed=missed, reason=reason)
        self.repository.record_run(run)

    # The creator -------------------------------------------------------------------------------
    def creator_role(self, creator: str | None) -> Role | None:
        if creator == WORKSPACE_PRINCIPAL:
            return Role.OWNER
        user = self.users.find_user(creator) if creator else None
        return Role(user.role) if user is not None else None

    def creator_refusal(self, creator: str | None) -> str | None:
        """Why the schedule's creator may no longer submit its jobs (None: they may)."""
        role = self.creator_role(creator)
        if role is None:
            return f"its creator '{creator}' is no longer a user of this workspace"
        if not role.allows(SUBMITS):
            return f"its creator '{creator}' is now a {role.value}; submitting jobs needs {SUBMITS.and_above()}"
        return None
