"""Rendering for the CLI: Rich tables for people, JSON for programs (``-o json``), one way for every command.

A command that shows something calls :func:`print_output` with the data and how to draw it for
people; lists are :func:`list_table`, one thing's fields :func:`details_table`.

Rich is imported when something is drawn with it: a long list written as plain text (``kiln job list --limit
1000``) and ``-o json`` do without it. ``console`` and ``err_console`` are made on first use.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel

from kiln.cli.plain_table import write_plain_table
from kiln.specs.adapters import adapter_of
from kiln.specs.views import JobStatus, JobView

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

    from kiln.specs.pins import EnvironmentPin, InputPin

    console: Console
    err_console: Console


def __getattr__(name: str) -> Any:
    """``console`` (stdout) and ``err_console`` (stderr), Rich's consoles, made on first use."""
    if name in ("console", "err_console"):
        return _consoles()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@lru_cache(maxsize=1)
def _consoles() -> dict[str, Console]:
    from rich.console import Console

    return {"console": Console(), "err_console": Console(stderr=True)}


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
        show(shown)


def show(shown: RenderableType) -> None:
    """Print what a command shows: a list table as plain text where Rich would be slow or is not needed
    (many rows, or not a terminal), everything else through Rich."""
    if isinstance(shown, ListTable) and (
        len(shown.cells) > RICH_ROWS_AT_MOST or not _consoles()["console"].is_terminal
    ):
        shown.write_plain(sys.stdout, width=shutil.get_terminal_size().columns)
    else:
        _consoles()["console"].print(shown)


RICH_ROWS_AT_MOST = 100  # a terminal gets Rich's table (colours) up to this many rows; it takes ~0.6 ms a row


class Styled:
    """A cell's text with a Rich style (``Styled("completed", "green")``): Rich draws it in that style, the
    plain table writes the text as it is (no markup to read back)."""

    __slots__ = ("style", "text")

    def __init__(self, text: str, style: str) -> None:
        self.text, self.style = text, style

    def __str__(self) -> str:
        return self.text

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text(self.text, style=self.style)


class ListTable:
    """A list: its columns and rows, drawn by Rich as a table (``console.print(table)``: bold header, no outer
    edge), or written as the same table in plain text (:meth:`write_plain`). A cell is text (Rich markup in it is
    drawn, and left out of the plain text) or :class:`Styled`."""

    def __init__(self, *columns: str, no_wrap: Collection[str] = (), min_widths: Mapping[str, int] | None = None):
        self.names, self.no_wrap, self.min_widths = columns, no_wrap, dict(min_widths or {})
        self.cells: list[tuple[str, ...]] = []
        self._rows: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def add_row(self, *cells: Any, **options: Any) -> None:
        self.cells.append(tuple(cell.text if isinstance(cell, Styled) else _plain(str(cell)) for cell in cells))
        self._rows.append((cells, options))

    def __rich__(self) -> Table:
        from rich.table import Table

        table = Table(show_edge=False, header_style="bold")
        for column in self.names:
            table.add_column(column, no_wrap=column in self.no_wrap, min_width=self.min_widths.get(column))
        for cells, options in self._rows:
            table.add_row(*cells, **options)
        return table

    def write_plain(self, out: Any, width: int) -> None:
        write_plain_table(out, self.names, self.cells, width, no_wrap=self.no_wrap, min_widths=self.min_widths)


@lru_cache(maxsize=4096)  # a list's markup cells repeat
def _plain(cell: str) -> str:
    """A cell's text without its Rich markup (``[green]ready[/]`` → ``ready``)."""
    if "[" not in cell:
        return cell
    from rich.errors import MarkupError
    from rich.markup import render as render_markup

    try:
        return render_markup(cell).plain
    except MarkupError:  # not markup after all (Rich's own table would refuse it too)
        return cell


def list_table(*columns: str, no_wrap: Collection[str] = (), min_widths: Mapping[str, int] | None = None) -> ListTable:
    """The table of a list: one column per name, in bold, without an outer edge; the rows are the caller's."""
    return ListTable(*columns, no_wrap=no_wrap, min_widths=min_widths)


def details_table(rows: Iterable[tuple[str, str]]) -> Table:
    """One thing's fields: names in bold on the left, values folded on the right."""
    from rich.table import Table

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
    kinds = {type(item) for item in data} if isinstance(data, Sequence) else set()
    if len(kinds) == 1:  # a list of one model: written by the adapter that parsed it (the SDK's), not built again
        payload: Any = adapter_of(list[kinds.pop()]).dump_python(list(data), mode="json")
    elif isinstance(data, Sequence):
        payload = [item.model_dump(mode="json") for item in data]
    elif isinstance(data, BaseModel):
        payload = data.model_dump(mode="json")
    else:
        payload = data
    print(json.dumps(payload, indent=2))


def _duration(view: JobView) -> str:
    return f"{view.duration_seconds:.1f} s" if view.duration_seconds is not None else "-"


def status_text(status: JobStatus) -> str:
    return f"[{STATUS_STYLE[status]}]{status.value}[/]"


@cache  # one cell per status, shared by a list's rows
def status_cell(status: JobStatus) -> Styled:
    return Styled(status.value, STATUS_STYLE[status])


def jobs_table(views: list[JobView]) -> ListTable:
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
            status_cell(view.status),
            view.experiment_name,
            view.created_at.astimezone().strftime("%m-%d %H:%M") if view.created_at else "-",
            _duration(view),
            view.display_name or "",
        )
    return table


GENERATED_NAME = re.compile(r"[0-9a-f]{32}")
SHORT_NAME = 8


def short_names(names: list[str]) -> dict[str, str]:
    """Each generated name's shortest start (at least 8 characters) that no other listed id shares.

    In sorted order, the ids sharing the longest start with one id are its neighbours: one more character
    than the longer of those two shared starts is unique (n log n, not n²: 1,000 jobs list at once)."""
    generated = sorted({name for name in names if GENERATED_NAME.fullmatch(name)})
    shortened = {name: name for name in names}
    for i, name in enumerate(generated):
        neighbours = generated[max(i - 1, 0) : i] + generated[i + 1 : i + 2]
        shared = max((_common_start(name, other) for other in neighbours), default=0)
        shortened[name] = name[: min(max(SHORT_NAME, shared + 1), len(name))]
    return shortened


def _common_start(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` share from their start (ids differ after a few: a plain loop is quickest)."""
    most, i = min(len(a), len(b)), 0
    while i < most and a[i] == b[i]:
        i += 1
    return i


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
