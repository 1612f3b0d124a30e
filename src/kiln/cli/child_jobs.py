"""A parent job's children in the CLI (a sweep's trials, a pipeline's steps): ``kiln job list --parent NAME``, the
trials or steps table of ``kiln job show`` and the live table of ``kiln job create --stream`` for a sweep or a
pipeline."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kiln.cli import render
from kiln.cli.list_tables import status_text
from kiln.cli.workspace import client
from kiln.specs.job_status import JobStatus
from kiln.specs.tag_filters import parse_tag_filters

if TYPE_CHECKING:
    from kiln.sdk.jobs import Job

PARENT_TAG = "kiln.parent"  # = kiln.store.jobs.PARENT_TAG (the CLI does not import the store)
PARAMS_TAG = "kiln.sweep.params"
OBJECTIVE_TAG = "kiln.sweep.objective"
STEP_TAG = "kiln.pipeline.step"  # = kiln.pipelines.steps.STEP_TAG
REUSED_FROM_TAG = "kiln.pipeline.reused_from"  # = kiln.pipelines.job_outputs.REUSED_FROM_TAG
MAX_CHILDREN = 1000
POLL_SECONDS = 1.0


def children(parent: str, limit: int = MAX_CHILDREN, tags: Sequence[str] = ()) -> list[Job]:
    """The jobs of ``parent`` (its trials), oldest first; with ``tags`` (``--tag`` KEY=VALUE or KEY), those only."""
    wanted = {**parse_tag_filters(tags, "--tag"), PARENT_TAG: parent}
    found, _ = client().jobs.search(tags=wanted, sort="created", limit=limit)
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


def steps_table(parent: Job, steps: list[Job]) -> Group:
    """Each step of a pipeline: its job, status, the job it reused (if it did) and how long it ran."""
    table = Table(title=f"steps of {parent.name}", title_justify="left")
    for column in ("step", "job", "status", "reused from", "duration"):
        table.add_column(column)
    for step in steps:
        tags, seconds = step.view.tags, step.view.duration_seconds
        table.add_row(
            tags.get(STEP_TAG, "?"), step.name, status_text(step.status), tags.get(REUSED_FROM_TAG, ""),
            "" if seconds is None else f"{seconds:.1f} s",
        )  # fmt: skip
    reused = sum(bool(step.view.tags.get(REUSED_FROM_TAG)) for step in steps)
    done = sum(step.status.is_terminal for step in steps)
    line = f"{len(steps)} steps started, {done} ended, {reused} reused; pipeline {parent.status.value}"
    if parent.view.failure_reason:
        line += f": {parent.view.failure_reason}"
    return Group(table, Text(line))


def children_table(parent: Job, jobs: list[Job]) -> Group:
    """The table of a parent's children: a pipeline's steps, else a sweep's trials."""
    return steps_table(parent, jobs) if parent.view.type == "pipeline" else trials_table(parent, jobs)


def follow_sweep(name: str) -> None:
    """Redraw the trials (or steps) table until the sweep (or pipeline) ends."""
    sweep = client().jobs.get(name)
    with Live(children_table(sweep, []), console=render.console, refresh_per_second=2) as live:
        while True:
            sweep = client().jobs.get(name)
            live.update(children_table(sweep, children(name)))
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
