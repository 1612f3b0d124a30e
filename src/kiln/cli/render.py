"""Rendering for the CLI: Rich tables for people, JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from kiln.specs.pins import DataPin, EnvironmentPin, InputPin, ModelPin
from kiln.specs.views import JobStatus, JobView

console = Console()
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


STATUS_STYLE = {
    JobStatus.QUEUED: "dim",
    JobStatus.PREPARING: "cyan",
    JobStatus.RUNNING: "blue",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELED: "yellow",
}


def print_json(data: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    if isinstance(data, Sequence):
        payload: Any = [item.model_dump(mode="json") for item in data]
    elif isinstance(data, BaseModel):
        payload = data.model_dump(mode="json")
    else:
        payload = data
    print(json.dumps(payload, indent=2))


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _duration(view: JobView) -> str:
    return f"{view.duration_seconds:.1f} s" if view.duration_seconds is not None else "-"


def status_text(status: JobStatus) -> str:
    return f"[{STATUS_STYLE[status]}]{status.value}[/]"


def jobs_table(views: list[JobView]) -> Table:
    table = Table(show_edge=False, header_style="bold")
    # names are what users copy into the next command: never cut them short
    table.add_column("name", no_wrap=True, min_width=max((len(v.name) for v in views), default=4))
    for column in ("status", "experiment", "created", "duration", "display name"):
        table.add_column(column)
    for view in views:
        table.add_row(
            view.name,
            status_text(view.status),
            view.experiment_name,
            _when(view.created_at),
            _duration(view),
            view.display_name or "",
        )
    return table


def job_details(view: JobView) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rows: list[tuple[str, str]] = [
        ("name", view.name),
        ("id (MLflow run)", view.id),
        ("status", status_text(view.status)),
        ("experiment", view.experiment_name),
        ("compute", view.compute),
        ("command", view.command),
        ("created", _when(view.created_at) + (f" by {view.created_by}" if view.created_by else "")),
        ("started", _when(view.started_at)),
        ("ended", _when(view.ended_at)),
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
    outputs = [f"{o.name} ({o.type})" + ("" if o.available else " - empty") for o in view.outputs]
    rows.append(("outputs", "\n".join(outputs)))
    rows.append(("MLflow run", view.mlflow_run_url))
    for key, value in rows:
        table.add_row(key, value)
    return table


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
