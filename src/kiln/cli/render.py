"""Rendering for the CLI: Rich tables for people, JSON for programs (``-o json``), one way for every command.

A command that shows something calls :func:`print_output` with the data and how to draw it for
people; lists are :func:`list_table`, one thing's fields :func:`details_table`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.table import Table

from kiln.specs.pins import DataPin, EnvironmentPin, InputPin, ModelPin
from kiln.specs.views import JobStatus, JobView

console = Console()
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[OutputFormat, typer.Option("--output", "-o", help="table or json.")]
JsonData = BaseModel | Sequence[BaseModel] | dict[str, Any]


STATUS_STYLE = {
    JobStatus.QUEUED: "dim",
    JobStatus.PREPARING: "cyan",
    JobStatus.RUNNING: "blue",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELED: "yellow",
}


def print_output(data: JsonData, output: OutputFormat, for_people: Callable[[], RenderableType | None]) -> None:
    """``data`` as JSON when ``-o json`` asks for it; else what ``for_people()`` draws: a renderable to
    print (a table, a line of markup), or None when it printed its own lines."""
    if output == OutputFormat.json:
        print_json(data)
        return
    shown = for_people()
    if shown is not None:
        console.print(shown)


def list_table(*columns: str, no_wrap: Collection[str] = (), min_widths: Mapping[str, int] | None = None) -> Table:
    """The table of a list: one column per name, in bold, without an outer edge; the rows are the caller's."""
    table = Table(show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=column in no_wrap, min_width=(min_widths or {}).get(column))
    return table


def details_table(rows: Iterable[tuple[str, str]]) -> Table:
    """One thing's fields: names in bold on the left, values folded on the right."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def longest(names: Iterable[str], at_least: int = 4) -> int:
    """The width that shows every name whole (names are what users copy into the next command)."""
    return max((len(name) for name in names), default=at_least)


def when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def print_json(data: JsonData) -> None:
    if isinstance(data, Sequence):
        payload: Any = [item.model_dump(mode="json") for item in data]
    elif isinstance(data, BaseModel):
        payload = data.model_dump(mode="json")
    else:
        payload = data
    print(json.dumps(payload, indent=2))


def _duration(view: JobView) -> str:
    return f"{view.duration_seconds:.1f} s" if view.duration_seconds is not None else "-"


def status_text(status: JobStatus) -> str:
    return f"[{STATUS_STYLE[status]}]{status.value}[/]"


def jobs_table(views: list[JobView]) -> Table:
    """Jobs, fitting 80 columns: generated names (MLflow run ids) as their shortest unique start of at least 8
    hex digits, as git shortens commits (every command takes them); names given by users whole."""
    names = short_names([v.name for v in views])
    table = list_table(
        "name", "status", "experiment", "created", "duration", "display name",
        no_wrap=("name", "status", "created"), min_widths={"name": longest(names.values())},
    )  # fmt: skip
    for view in views:
        table.add_row(
            names[view.name],
            status_text(view.status),
            view.experiment_name,
            view.created_at.astimezone().strftime("%m-%d %H:%M") if view.created_at else "-",
            _duration(view),
            view.display_name or "",
        )
    return table


GENERATED_NAME = re.compile(r"[0-9a-f]{32}")
SHORT_NAME = 8


def short_names(names: list[str]) -> dict[str, str]:
    """Each generated name's shortest start (at least 8 characters) that no other listed id shares."""
    generated = [name for name in names if GENERATED_NAME.fullmatch(name)]
    shortened = {name: name for name in names}
    for name in generated:
        length = SHORT_NAME
        while length < len(name) and any(o != name and o.startswith(name[:length]) for o in generated):
            length += 1
        shortened[name] = name[:length]
    return shortened


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
        ("duration", _duration(view)),
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


def _pinned(pinned: InputPin) -> str:
    if isinstance(pinned, ModelPin | DataPin):
        return f"{pinned.kind} {pinned.name}:{pinned.version}"
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
