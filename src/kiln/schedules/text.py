"""A schedule in a few words, as the CLI's tables and kiln studio's list show it."""

from __future__ import annotations

from typing import Any

from kiln.schedules.api import ScheduleView


def trigger_text(trigger: dict[str, Any]) -> str:
    """``cron '0 2 * * *' (Europe/Paris)``, ``every 2 week (UTC)``."""
    zone = f" ({trigger['time_zone']})" if trigger.get("time_zone") else ""
    if trigger.get("type") == "cron":
        return f"cron '{trigger.get('expression')}'{zone}"
    return f"every {trigger.get('interval')} {trigger.get('frequency')}{zone}"


def state_text(view: ScheduleView) -> str:
    """stopped (by the server: its creator may no longer), disabled, enabled or ended (past its end_time)."""
    if view.stopped_reason:
        return "stopped"
    if not view.enabled:
        return "disabled"
    return "enabled" if view.next_run_at else "ended"
