"""kiln studio's Responsible AI pages: the analyses (``/ui/rai``, ``?model=NAME`` for one model's) and a
job's report (``/ui/rai/JOB``) drawn as charts: importances, local explanations, metrics per group and
before/after mitigation (server-drawn SVG bars, each with its value on hover). Read with the roles of the
REST operations they mirror (``rai.analyses``, ``rai.report``); ``/ui/rai/JOB/part`` is the report without the
layout, which the job's own page loads (htmx)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from kiln.rai import api
from kiln.rai.report_schema import RaiReport
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.studio.pages import StudioPage
from kiln.studio.rendering import NO_STORE, fragment, render

PAGES = (StudioPage("rai", "Responsible AI", "kiln.rai.studio:routes", order=35),)
Service = Annotated[Any, Depends(capability_service("rai"))]


def routes(router: APIRouter) -> None:
    @router.get("/ui/rai")
    def analyses(request: Request, service: Service, principal: Caller, model: str | None = None) -> HTMLResponse:
        principal.ensure(api.ANALYSES.role, api.ANALYSES.action)
        return render(request, "rai/list.html", analyses=service.analyses(model), model=model)

    @router.get("/ui/rai/{name}")
    def report(request: Request, name: str, service: Service, principal: Caller) -> HTMLResponse:
        principal.ensure(api.REPORT.role, api.REPORT.action)
        found = service.report(name)
        return render(request, "rai/report.html", name=name, report=found, charts=charts(found))

    @router.get("/ui/rai/{name}/part")
    def report_part(name: str, service: Service, principal: Caller) -> HTMLResponse:
        """The report drawn, without the layout: the job's page shows it (htmx)."""
        principal.ensure(api.REPORT.role, api.REPORT.action)
        found = service.report(name)
        return HTMLResponse(fragment("rai/_report.html", report=found, charts=charts(found)), headers=NO_STORE)


def charts(report: RaiReport) -> dict[str, Any]:
    """The report's bar charts: importances, each local explanation, a rate per group, before/after."""
    drawn: dict[str, Any] = {"local": [], "groups": [], "rate": None}
    if report.explanations:
        drawn["importances"] = bars([(i.feature, i.importance) for i in report.explanations.importances])
        drawn["local"] = [
            bars([(c.feature, c.contribution) for c in row.contributions], signed=True)
            for row in report.explanations.local
        ]
    if report.fairness:
        metrics = report.fairness.metrics
        rate = "selection_rate" if "selection_rate" in metrics else metrics[0]
        drawn["rate"] = rate
        drawn["groups"] = [
            bars([(g.label, g.metrics.get(rate)) for g in grouping.groups]) for grouping in report.fairness.groupings
        ]
    if report.mitigation:
        m = report.mitigation
        drawn["before_after"] = bars(
            [("accuracy before", m.accuracy_before), ("accuracy after", m.accuracy_after),
             (f"{m.disparity_metric} before", m.disparity_before), (f"{m.disparity_metric} after", m.disparity_after)]
        )  # fmt: skip
    return drawn


def bars(values: list[tuple[str, float | None]], width: int = 360, signed: bool = False) -> dict[str, Any]:
    """Bars of a horizontal chart, scaled to ``width`` pixels (``signed``: centred, negatives to the left)."""
    largest = max((abs(v) for _, v in values if v is not None), default=0.0) or 1.0
    half = width / 2 if signed else 0.0
    scale = (width / 2 if signed else width) / largest
    drawn = []
    for label, value in values:
        length = abs(value or 0.0) * scale
        start = half - length if signed and (value or 0.0) < 0 else half
        drawn.append({"label": label, "value": value, "x": round(start, 1), "width": round(max(length, 0.5), 1),
                      "negative": (value or 0.0) < 0})  # fmt: skip
    return {"bars": drawn, "width": width, "zero": half}
