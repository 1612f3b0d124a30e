"""Jobs listed as plain rows, for a caller that only draws them (``kiln job list``'s table).

The REST answer is read with the standard library's JSON reader into the few fields a list shows: no pydantic
imported, no model built (issue 13: importing pydantic and the views and building the list's parser took about
100 ms of a 1,000-job ``kiln job list``). ``Client().jobs.list`` gives the whole, validated views.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kiln.api.paths import JOBS as LIST_PATH  # api.jobs.LIST's path, without importing its models (pydantic)
from kiln.errors import Unavailable
from kiln.sdk.rest import RestClient
from kiln.specs.job_status import JobStatus
from kiln.specs.tag_filters import tag_query


class JobRow:
    """What a job list shows of a job: the fields of its ``JobView`` of the same names, parsed as the view parses
    them."""

    __slots__ = ("created_at", "display_name", "duration_seconds", "experiment_name", "name", "status")

    def __init__(self, item: dict[str, Any]) -> None:
        self.name: str = _text(item["name"])
        self.status = JobStatus(item["status"])
        self.experiment_name: str = _text(item["experiment_name"])
        created = item.get("created_at")
        self.created_at = datetime.fromisoformat(created) if created is not None else None
        duration = item.get("duration_seconds")
        self.duration_seconds: float | None = None if duration is None else float(duration)
        display = item.get("display_name")
        self.display_name: str | None = None if display is None else _text(display)


def list_job_rows(
    rest: RestClient, status: JobStatus | str | None = None, limit: int = 100,
    tags: Mapping[str, str | None] | None = None,
) -> list[JobRow]:  # fmt: skip
    """The newest ``limit`` jobs (with ``status`` only, and each of ``tags``, if given) as :class:`JobRow`, newest
    first."""
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = JobStatus(status).value
    if tags:
        params["tag"] = tag_query(tags)
    answer = rest.get_json(LIST_PATH, params)
    try:
        return [JobRow(item) for item in answer]
    except (KeyError, TypeError, ValueError) as exc:
        raise Unavailable(
            f"the workspace at {rest.url} answered a job list this kiln cannot read ({type(exc).__name__}: {exc}); "
            "is this kiln (kiln version) older than the workspace?"
        ) from exc


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value
