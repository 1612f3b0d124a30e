"""kiln studio's sweep pages: the sweeps (``/ui/sweeps``, newest first) and a sweep's trials
(``/ui/sweeps/NAME/part``, without the layout: the sweep's job page loads it, and it reloads itself every two
seconds while the sweep runs): the best trial, the trials table (each linked to its job page), the primary
metric over trials with the best so far, and a parallel-coordinates chart of the parameters against the metric
(``charts.py``, drawn as SVG on the server). Read with the roles of ``jobs.list`` and ``jobs.show``: a sweep
and its trials are jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.errors import NotFound
from kiln.server.capabilities import capability_service
from kiln.server.permissions import Caller
from kiln.specs.views import JobStatus
from kiln.store.tables import JobRow
from kiln.studio.pages import StudioPage
from kiln.studio.rendering import NO_STORE, fragment, render
from kiln.sweeps.charts import ChartTrial, finite, metric_chart, parallel_coordinates
from kiln.sweeps.sampling import total_trials
from kiln.sweeps.service import LIVE, TRIAL_TAG, SweepService, Trial, best_trial
from kiln.sweeps.spec import JOB_TYPE, SweepJobSpec

PAGES = (StudioPage("sweeps", "Sweeps", "kiln.sweeps.studio:routes", order=12),)
REFRESH_SECONDS = 2  # how often a live sweep's part reloads itself
LISTED = 200  # sweeps on the list page
Service = Annotated[SweepService, Depends(capability_service("sweeps"))]


def routes(router: APIRouter) -> None:
    @router.get("/ui/sweeps")
    def sweeps(request: Request, service: Service, principal: Caller) -> HTMLResponse:
        principal.ensure(api.jobs.LIST.role, api.jobs.LIST.action)
        repository = service.jobs.jobs
        rows = repository.of_type(JOB_TYPE, list(JobStatus))[::-1][:LISTED]
        listed = [_listing(row, len(repository.children(row.name))) for row in rows]
        return render(request, "sweeps/list.html", sweeps=listed)

    @router.get("/ui/sweeps/{name}/part")
    def trials_part(name: str, service: Service, principal: Caller) -> HTMLResponse:
        """The sweep's trials and charts, without the layout (its job page shows them)."""
        principal.ensure(api.jobs.SHOW.role, api.jobs.SHOW.action)
        row = service.jobs.jobs.get(name)
        if row.spec.get("type") != JOB_TYPE:
            raise NotFound(f"job '{row.name}' is a {row.spec.get('type')} job, not a sweep: /ui/jobs/{row.name}")
        return HTMLResponse(fragment("sweeps/_trials.html", **sweep_view(service, row)), headers=NO_STORE)


def sweep_view(service: SweepService, row: JobRow) -> dict[str, Any]:
    """What the sweep's part shows: its objective, trials (in trial order), best trial and both charts."""
    spec = SweepJobSpec.model_validate(row.spec)
    trials = sorted(service.trials(row, spec), key=trial_number)
    best = best_trial(spec, trials)
    objective = spec.objective
    charted = [ChartTrial(trial_number(t), t.row.name, t.row.status, t.params, finite(t.value)) for t in trials]
    space = {name: parameter.model_dump(exclude_none=True) for name, parameter in spec.search_space.items()}
    best_name = best.row.name if best else None
    return {
        "sweep": row, "metric": objective.primary_metric, "goal": objective.goal, "parameters": list(space),
        "trials": charted, "best": next((t for t in charted if t.name == best_name), None),
        "total": total_trials(spec), "ended": sum(JobStatus(t.status).is_terminal for t in charted),
        "live": JobStatus(row.status) in LIVE, "refresh": REFRESH_SECONDS,
        "metric_chart": metric_chart(charted, objective.goal),
        "parallel": parallel_coordinates(charted, space, objective.primary_metric, objective.goal, best_name),
    }  # fmt: skip


def trial_number(trial: Trial) -> int:
    """The trial's number in its sweep (its tag ``kiln.sweep.trial``)."""
    return int(trial.row.spec.get("tags", {}).get(TRIAL_TAG, 0))


def _listing(row: JobRow, trials: int) -> dict[str, Any]:
    objective = row.spec.get("objective", {})
    return {
        "name": row.name, "status": row.status, "created_at": row.created_at, "trials": trials,
        "objective": f"{objective.get('goal', '')} {objective.get('primary_metric', '')}".strip(),
        "experiment": row.spec.get("experiment_name") or "", "created_by": row.created_by,
        "parameters": ", ".join(row.spec.get("search_space", {})),
    }  # fmt: skip
