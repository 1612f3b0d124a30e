"""Schedules through a workspace's export and import (``kiln.transfer.parts``): each schedule as its row, with its
past runs (``kiln schedule show`` on the target shows the same history).

What a user moving a workspace expects, and what the import does:

- **its state**: an enabled schedule stays enabled, a disabled one stays disabled (with its reason);
- **no catching up**: the runs it missed while it was in the archive are not run on import (the server folds missed
  runs into one at start; a moved workspace is not a server that was down): an enabled schedule's next run is its
  next time on the timetable after the import;
- **its creator**: runs are submitted as the creator, so a creator who is not a user of the target, or may not
  submit jobs there, makes it arrive disabled, saying why (create it again as someone who may, as for any
  schedule whose creator may no longer submit);
- **its job's files** travel in the archive's store (``code: upload:<sha256>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict
from kiln.schedules.store import ScheduleRow, ScheduleRunRow
from kiln.transfer.rows import record_row, row_record

if TYPE_CHECKING:
    from kiln.schedules.service import ScheduleService
    from kiln.transfer.import_plan import State
    from kiln.transfer.parts import TransferPart

IMPORTED_NOTE = (
    "schedules kept their enabled state; the runs they missed are not run: an enabled schedule runs next at its next "
    "time after the import (kiln schedule list shows when); one whose creator may not submit jobs here arrives disabled "
    "with the reason (kiln schedule show)"
)


class Schedules:
    kind = "schedule"
    member = "schedules"

    def __init__(self, service: ScheduleService) -> None:
        self._service = service
        self._repository = service.repository

    def export(self) -> list[dict[str, Any]]:
        return [
            {"schedule": row_record(row), "runs": [row_record(run) for run in self._repository.all_runs(row.name)]}
            for row in self._repository.all()
        ]

    def label(self, record: dict[str, Any]) -> str:
        return str(record["schedule"]["name"])

    def plan(self, record: dict[str, Any], refused: Mapping[str, set[str]]) -> tuple[State, str]:
        existing = self._repository.get(self.label(record))
        if existing is None:
            return "new", ""
        if existing.spec == record["schedule"]["spec"]:
            return "there", ""  # its state (enabled, runs) is the target's own
        return "conflict", "the target's schedule of that name has another trigger or job"

    def write(self, record: dict[str, Any]) -> None:
        now = self._service.now()
        row = record_row(ScheduleRow, record["schedule"], next_run_at=None, updated_at=now)
        if row.enabled:
            refusal = self._service.creator_refusal(row.created_by)
            following = self._service.timetable(row).next_after(now) if refusal is None else None
            if following is not None:
                row.next_run_at = following
            else:
                row.enabled = False
                row.stopped_reason = (
                    f"imported disabled: {refusal or 'its timetable has no run after now (trigger.end_time)'}"
                )
        runs = [record_row(ScheduleRunRow, run, id=None, schedule=row.name) for run in record["runs"]]
        if not self._repository.restore(row, runs):
            raise Conflict(f"schedule '{row.name}' was created on the target meanwhile")

    def note(self) -> str | None:
        return IMPORTED_NOTE


def transfer_parts(service: ScheduleService) -> tuple[TransferPart, ...]:
    return (Schedules(service),)
