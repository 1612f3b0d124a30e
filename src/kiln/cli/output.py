"""How a command's answer is printed: JSON for programs (``-o json``), else what it draws for people (a list table,
a line of Rich markup, a details table). Nothing here imports typer; pydantic is imported to write a model as
JSON, Rich when something is drawn with it (a long list written as plain text does without it)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from kiln.cli.list_tables import ListTable

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console, RenderableType

    JsonData = BaseModel | Sequence[BaseModel] | dict[str, Any]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


RICH_ROWS_AT_MOST = 100  # a terminal gets Rich's table (colours) up to this many rows; it takes ~0.6 ms a row


@lru_cache(maxsize=1)
def consoles() -> dict[str, Console]:
    """Rich's consoles, ``console`` (stdout) and ``err_console`` (stderr), made on first use."""
    from rich.console import Console

    return {"console": Console(), "err_console": Console(stderr=True)}


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
    if isinstance(shown, ListTable) and (len(shown.cells) > RICH_ROWS_AT_MOST or not consoles()["console"].is_terminal):
        shown.write_plain(sys.stdout, width=shutil.get_terminal_size().columns)
    else:
        consoles()["console"].print(shown)


def print_json(data: JsonData) -> None:
    if isinstance(data, dict):  # JSON data already (a server's answer as it came): written without pydantic
        print(json.dumps(data, indent=2))
        return
    from pydantic import BaseModel

    from kiln.specs.adapters import adapter_of

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
