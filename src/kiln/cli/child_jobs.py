"""A parent job's children in the CLI (a sweep's trials): ``kiln job list --parent NAME``, the trials table of
``kiln job show`` and the live table of ``kiln job create --stream`` for a sweep."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kiln.cli import render
from kiln.cli.list_tables import status_text
from kiln.cli.workspace import client
from kiln.specs.job_status import JobStatus

if TYPE_CHECKING:
    from kiln.sdk.jobs import Job

PARENT_TAG = "kiln.parent"  # = kiln.store.jobs.PARENT_TAG (the CLI does not import the store)
PARAMS_TAG = "kiln.sweep.params"
OBJECTIVE_TAG = "kiln.sweep.objective"
MAX_CHILDREN = 1000
POLL_SECONDS = 1.0


def children(parent: str, limit: int = MAX_CHILDREN) -> list[Job]:
    """The jobs of ``parent`` (its trials), oldest first."""
    found, _ = client().jobs.search(tags={PARENT_TAG: parent}, sort="created", limit=limit)
    return list(found)


def trials_table(parent: Job, trials: list[Job]) -> Group:
    """Each trial's status, parameters and primary metric (its last value), the best marked, and a line on the
    best so far."""
    objective = next((t.view.tags.get(OBJECTIVE_TAG) for t in trials if t.view.tags.get(OBJECTIVE_TAG)), None)
    goal, _, metric = (objective or "minimize ?").partition(" ")
    values = {trial.name: _metric(trial, metric) for trial in trials}
    scored = [name for name, value in values.items() if value is not None]
    pick = min if goal == "minimize" else max
    best = pick(scored, key=lambda name: values[name] or 0.0) if scored else None
    table = Table(title=f"trials of {parent.name} ({goal} {metric})", title_justify="left")
    for column in ("trial", "status", "parameters", metric):
        table.add_column(column)
    for trial in trials:
        value = values[trial.name]
        params = ", ".join(f"{k}={_short(v)}" for k, v in json.loads(trial.view.tags.get(PARAMS_TAG, "{}")).items())
        mark = " ★" if trial.name == best else ""
        table.add_row(trial.name, status_text(trial.status), params, ("" if value is None else f"{value:.6g}") + mark)
    done = sum(trial.status.is_terminal for trial in trials)
    line = f"{len(trials)} trials, {done} ended" + (
        f"; best so far: {best} ({metric} = {values[best]:.6g})" if best else ""
    )
    return Group(table, Text(line))


def follow_sweep(name: str) -> None:
    """Redraw the trials table until the sweep ends."""
    sweep = client().jobs.get(name)
    with Live(trials_table(sweep, []), console=render.console, refresh_per_second=2) as live:
        while True:
            sweep = client().jobs.get(name)
            live.update(trials_table(sweep, children(name)))
            if sweep.status.is_terminal:
                return
            time.sleep(POLL_SECONDS)


def _metric(trial: Job, metric: str) -> float | None:
    if trial.status == JobStatus.QUEUED:
        return None
    metrics = client().jobs.get(trial.name, run_data=True).view.metrics or {}
    return metrics.get(metric)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
