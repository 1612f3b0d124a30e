"""Rendering for the CLI: Rich tables for people, JSON for programs (``-o json``), one way for every command.

A command that shows something calls :func:`print_output` with the data and how to draw it for
people; lists are :func:`list_table`, one thing's fields :func:`details_table`.

What needs neither typer nor pydantic lives in ``kiln.cli.output`` (printing, ``-o json``) and
``kiln.cli.list_tables`` (lists), re-exported here: the fast front of ``kiln job list`` (``kiln.cli.quick``)
uses them without this module. Rich is imported when something is drawn with it: a long list written as plain
text (``kiln job list --limit 1000``) and ``-o json`` do without it. ``console`` and ``err_console`` are made
on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kiln.cli.list_tables import (
    STATUS_STYLE,
    ListTable,
    Styled,
    duration_text,
    jobs_table,
    list_table,
    longest,
    short_names,
    status_cell,
    status_text,
)
from kiln.cli.output import RICH_ROWS_AT_MOST, OutputFormat, consoles, print_json, print_output, show
from kiln.specs.views import JobPlanView, JobView

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from kiln.specs.pins import EnvironmentPin, InputPin

    console: Console
    err_console: Console

__all__ = [
    "RICH_ROWS_AT_MOST", "STATUS_STYLE", "ListTable", "OutputFormat", "OutputOption", "Styled", "details_table",
    "job_details", "jobs_table", "list_table", "longest", "print_json", "print_output", "short_names", "show",
    "status_cell", "status_text", "when",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    """``console`` (stdout) and ``err_console`` (stderr), Rich's consoles, made on first use."""
    if name in ("console", "err_console"):
        return consoles()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


OutputOption = Annotated[OutputFormat, typer.Option("--output", "-o", help="table or json.")]


def details_table(rows: Iterable[tuple[str, str]]) -> Table:
    """One thing's fields: names in bold on the left, values folded on the right."""
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def job_details(view: JobView) -> Table:
    rows: list[tuple[str, str]] = [
        ("name", view.name),
        ("id (MLflow run)", view.id),
        ("status", status_text(view.status)),
        ("experiment", view.experiment_name),
        ("compute", view.compute),
        ("command", view.command),
        ("created", when(view.created_at) + (f" by {view.created_by}" if view.created_by else "")),
        ("started", when(view.started_at)),
        ("ended", when(view.ended_at)),
        ("duration", duration_text(view.duration_seconds)),
    ]
    if view.display_name:
        rows.insert(1, ("display name", view.display_name))
    if view.exit_code is not None:
        rows.append(("exit code", str(view.exit_code)))
    if view.failure_reason:
        rows.append(("failure", view.failure_reason))
    if view.code_hash:
        rows.append(("code snapshot", view.code_hash[:16]))
    for title, mapping in (("inputs", view.inputs), ("params", view.params or {}), ("metrics", view.metrics or {})):
        if mapping:
            rows.append((title, "\n".join(f"{k} = {_value(v)}" for k, v in sorted(mapping.items()))))
    if view.pinned_inputs:
        rows.append(("input versions", "\n".join(f"{k} = {_pinned(v)}" for k, v in sorted(view.pinned_inputs.items()))))
    if view.environment:
        rows.append(("environment", _environment(view.environment)))
    if view.gpu_ids:
        rows.append(("GPUs", ", ".join(view.gpu_ids)))
    if view.server_id:
        rows.append(("server", view.server_id))
    if view.submission_id:
        rows.append(("Ray job", view.submission_id))
    if view.isolation:
        rows.append(("isolation", view.isolation))
    outputs = [f"{o.name} ({o.type})" + ("" if o.available else " - empty") for o in view.outputs]
    rows.append(("outputs", "\n".join(outputs)))
    rows.append(("MLflow run", view.mlflow_run_url))
    return details_table(rows)


def plan_details(plan: JobPlanView) -> Table:
    """What ``kiln job create --dry-run`` shows: what a submit would record, resolved and pinned."""
    rows: list[tuple[str, str]] = [
        ("checked", "[green]ok[/]: nothing was submitted, uploaded or recorded"),
        ("type", plan.type),
        ("name", plan.name or "(the MLflow run's id, given at submit)"),
        ("experiment", plan.experiment_name),
        ("compute", plan.compute),
        ("command", plan.command),
    ]
    if plan.display_name:
        rows.insert(3, ("display name", plan.display_name))
    if plan.code_hash:
        rows.append(("code snapshot", plan.code_hash[:16]))
    if plan.inputs:
        rows.append(("inputs", "\n".join(f"{k} = {_value(v)}" for k, v in sorted(plan.inputs.items()))))
    if plan.pinned_inputs:
        rows.append(("input versions", "\n".join(f"{k} = {_pinned(v)}" for k, v in sorted(plan.pinned_inputs.items()))))
    if plan.pending_uploads:
        rows.append(("to upload", "\n".join(f"{k} = {v}" for k, v in plan.pending_uploads.items())))
    rows.append(("environment", _environment(plan.environment)))
    if plan.outputs:
        rows.append(("outputs", "\n".join(f"{k} = {_value(v)}" for k, v in sorted(plan.outputs.items()))))
    if plan.privacy:
        rows.append(("privacy charge", _value(plan.privacy)))
    if plan.notes:
        rows.append(("notes", "\n".join(plan.notes)))
    return details_table(rows)


def _pinned(pinned: InputPin) -> str:
    from kiln.specs.pins import DataPin, ModelPin, RemotePin

    if isinstance(pinned, ModelPin | DataPin):
        return f"{pinned.kind} {pinned.name}:{pinned.version}"
    if isinstance(pinned, RemotePin):
        return f"remote {pinned.type} {pinned.path}"
    return f"uploaded {pinned.content_hash[:16]}" if pinned.content_hash else pinned.kind


def _environment(environment: EnvironmentPin) -> str:
    lock = environment.lock or []
    return environment.label + (f" ({len(lock)} packages locked)" if lock else "")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)
