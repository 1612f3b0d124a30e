"""Compare (``/ui/compare?jobs=a,b,c``): several jobs' metrics overlaid, one chart per metric (series thinned on
the server), and their params side by side, the rows that differ marked."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.errors import InvalidSpec
from kiln.server.dependencies import Jobs
from kiln.server.permissions import Caller
from kiln.specs.views import JobMetricsView
from kiln.studio.rendering import render

MAX_JOBS = 12
CHART_POINTS = 1000


def routes(router: APIRouter) -> None:
    @router.get("/ui/compare")
    def compare(
        request: Request, jobs: Jobs, principal: Caller, names: Annotated[list[str] | None, Query(alias="jobs")] = None
    ) -> HTMLResponse:
        principal.ensure(api.jobs.METRICS.role, api.jobs.METRICS.action)
        picked = list(dict.fromkeys(part.strip() for value in names or [] for part in value.split(",") if part.strip()))
        if len(picked) > MAX_JOBS:
            raise InvalidSpec(f"jobs: {len(picked)} jobs picked; compare at most {MAX_JOBS} at a time")
        views = [jobs.get(name, with_run_data=True) for name in picked]
        series = {
            view.name: json.loads(JobMetricsView(metrics=jobs.metric_series(view.name, CHART_POINTS)).model_dump_json())
            for view in views
        }
        return render(request, "jobs/compare.html", jobs=views, params=param_rows(views), series=series)


def param_rows(views: list[Any]) -> list[dict[str, Any]]:
    """One row per param any job has: its value in each job (None where a job has none), and whether they differ."""
    keys = sorted({key for view in views for key in (view.params or {})})
    rows = []
    for key in keys:
        values = [(view.params or {}).get(key) for view in views]
        rows.append({"key": key, "values": values, "differs": len(set(values)) > 1})
    return sorted(rows, key=lambda row: (not row["differs"], row["key"]))
