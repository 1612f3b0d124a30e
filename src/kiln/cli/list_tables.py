"""The tables of lists (``kiln job list``, ``kiln model list``…): drawn by Rich on a terminal, written as plain text
(``kiln.cli.plain_table``) off one or when long. Nothing here imports typer, pydantic or Rich (Rich is imported when
a table is drawn with it), so that ``kiln job list`` (``kiln.cli.quick``) starts without them."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from kiln.cli.plain_table import write_plain_table
from kiln.specs.job_status import JobStatus

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text


STATUS_STYLE = {
    JobStatus.QUEUED: "dim",
    JobStatus.PREPARING: "cyan",
    JobStatus.RUNNING: "blue",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELED: "yellow",
}


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


def longest(names: Iterable[str], at_least: int = 4) -> int:
    """The width that shows every name whole (names are what users copy into the next command)."""
    return max((len(name) for name in names), default=at_least)


def status_text(status: JobStatus) -> str:
    return f"[{STATUS_STYLE[status]}]{status.value}[/]"


@cache  # one cell per status, shared by a list's rows
def status_cell(status: JobStatus) -> Styled:
    return Styled(status.value, STATUS_STYLE[status])


def duration_text(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds is not None else "-"


class ListedJob(Protocol):
    """What a job list shows of a job: a ``JobView`` (the SDK's) or a ``JobRow`` (``kiln.sdk.job_rows``)."""

    @property
    def name(self) -> str: ...
    @property
    def status(self) -> JobStatus: ...
    @property
    def experiment_name(self) -> str: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def duration_seconds(self) -> float | None: ...
    @property
    def display_name(self) -> str | None: ...


def jobs_table(views: Sequence[ListedJob]) -> ListTable:
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
            duration_text(view.duration_seconds),
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
