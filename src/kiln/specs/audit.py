"""The audit log's shapes: one entry as the API answers it, and the filters a reader gives.

An entry says who (the user, and the credential: a token's id, a job, the studio), when, what (the
REST operation, the resource's kind, name and version, a small detail that never holds a secret)
and from where (the client's address and user agent). ``kiln.server.audit`` writes them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kiln.errors import InvalidSpec

AUDIT_LIST_LIMIT = 1000  # the most entries one read answers (the newest first)
_RELATIVE = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SINCE_HELP = "how far back: 30m, 12h, 1d, 2w, or a time (2026-12-01 or 2026-12-01T08:00:00Z; UTC unless it says)"


class AuditEntryView(BaseModel):
    """One change to the workspace."""

    model_config = ConfigDict(defer_build=True)

    id: int = Field(description="the order of changes: a later change has a larger id")
    at: datetime
    user: str = Field(description="who: the user the request acted as")
    via: str = Field(description="their credential: 'token tk_…', 'workspace token', 'job NAME', 'studio'")
    action: str = Field(description="the REST operation (its operationId), e.g. models.set_alias")
    kind: str = Field(description="the resource's kind: job, model, data, endpoint, deployment, user…")
    name: str | None = None
    version: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict, description="what else: other names, options, fields set")
    client: str | None = Field(None, description="the client's address")
    user_agent: str | None = None


def since_time(text: str, now: datetime) -> datetime:
    """The time ``text`` names: ``30m``, ``12h``, ``1d``, ``2w`` before ``now``, or an ISO date or time."""
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = relative.groups()
        try:
            return now - timedelta(**{_UNITS[unit]: int(amount)})
        except OverflowError:  # before the year 1
            raise InvalidSpec(f"since: '{text}' reaches back before the year 1; give a shorter span") from None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidSpec(f"since: '{text}' is not {SINCE_HELP}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=now.tzinfo)
