"""Schedules: Azure ML's schedule YAML, a job submitted on a cron or recurrence timetable by the workspace server.

- ``spec``: the schedule file (``trigger``: cron or recurrence; ``create_job``: a job file or an inline job);
- ``timetable``: when each run is due (cron fields, Azure's recurrence, time zones, start and end), no I/O;
- ``store``: the ``schedules`` and ``schedule_runs`` rows (migration 0018), a run claimed by one conditional update;
- ``service``: the server's loop: each due run a normal job (tag ``kiln.schedule``) submitted as the creator;
- ``api`` + ``router``: REST; ``sdk``: ``Client().schedules``; ``cli``: ``kiln schedule create|list|show|disable|
  enable|delete``; ``studio``: the schedules with their next and last runs in kiln studio;
- ``transfer``: schedules carried by a workspace's export and import (enabled state kept, missed runs not run).
"""

from __future__ import annotations

from kiln.capabilities import Capability, CliCommand

CAPABILITY = Capability(
    name="schedules",
    summary="schedules: jobs submitted on a cron or recurrence timetable by the workspace server",
    commands=(
        CliCommand(
            "schedule", "kiln.schedules.cli:app", "Schedules: jobs submitted on a cron or recurrence timetable."
        ),
    ),
    api="kiln.schedules.api",
    router="kiln.schedules.router:schedules_router",
    service="kiln.schedules.service:ScheduleService",
    studio_pages="kiln.schedules.studio:PAGES",
    transfer="kiln.schedules.transfer:transfer_parts",
)

__all__ = ["CAPABILITY"]
