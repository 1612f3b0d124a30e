"""How the SDK's objects show in Jupyter: a view (a job, a model version, a data asset, an environment, an
endpoint, a deployment) as an HTML table of its fields, and a list of them (``Listing``) as one table with a row
each. Every value is escaped (a name holding ``<script>`` shows as text); long values are cut. Standard library
only: nothing is imported until a notebook asks for the HTML."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar

MAX_CELL = 200  # characters of one value shown; the rest is cut with "…"
MAX_ROWS = 100  # rows of a list's table; a last row says how many more there are
MAX_COLUMNS = 8  # a list's columns when its class names none


class HtmlTable:
    """A mixin for a pydantic view: ``_repr_html_`` draws its fields as a two-column table. ``html_columns``
    names the fields a list of such views shows (else its first plain fields)."""

    html_columns: ClassVar[tuple[str, ...]] = ()

    def _repr_html_(self) -> str:
        return record_table(self)


class Listing(list):  # type: ignore[type-arg]
    """A list of views (or of the SDK's handles on them, such as ``Job``) that Jupyter draws as one table."""

    def _repr_html_(self) -> str:
        return list_table(self)


def escape(text: str) -> str:
    from html import escape as html_escape  # here: a view's module imports this one, a notebook alone draws

    return html_escape(text, quote=True)


def fields_of(item: object) -> dict[str, Any]:
    """A view's fields by name (a handle such as ``Job``: its ``view``'s)."""
    view = getattr(item, "view", item)
    names = getattr(type(view), "model_fields", None)
    if names is None:
        return {"value": view}
    return {name: getattr(view, name, None) for name in names}


def cell(value: Any) -> str:
    """One value as escaped text: scalars as they read, lists and dicts as compact JSON; cut past MAX_CELL."""
    if value is None:
        text = ""
    elif isinstance(value, Enum):
        text = str(value.value)
    elif isinstance(value, datetime):
        text = value.isoformat(sep=" ", timespec="seconds")
    elif isinstance(value, str | int | float | bool):
        text = str(value)
    else:
        import json

        text = json.dumps(_plain(value), default=str, separators=(", ", ": "))
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 1] + "…"
    return escape(text)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def record_table(item: object) -> str:
    """One view: a row per field (empty fields left out), the class's name as the caption."""
    rows = "".join(
        f"<tr><th style='text-align:left'>{escape(name)}</th><td style='text-align:left'>{cell(value)}</td></tr>"
        for name, value in fields_of(item).items()
        if value not in (None, "", [], {})
    )
    return f"<table><caption>{escape(_title(item))}</caption>{rows}</table>"


def list_table(items: Iterable[object]) -> str:
    """Several views: a column per shown field, a row per view (at most MAX_ROWS)."""
    items = list(items)
    if not items:
        return "<p>(none)</p>"
    columns = _columns(items[0])
    head = "".join(f"<th style='text-align:left'>{escape(name)}</th>" for name in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{cell(fields_of(item).get(name))}</td>" for name in columns)
        + "</tr>"
        for item in items[:MAX_ROWS]
    )  # fmt: skip
    if len(items) > MAX_ROWS:
        body += f"<tr><td colspan='{len(columns)}'>… and {len(items) - MAX_ROWS} more</td></tr>"
    caption = f"{len(items)} × {_title(items[0])}"
    return f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _columns(item: object) -> list[str]:
    view = getattr(item, "view", item)
    named = list(getattr(view, "html_columns", ()))
    if named:
        return named
    plain = [name for name, value in fields_of(item).items() if value is None or isinstance(value, str | int | float)]
    return plain[:MAX_COLUMNS]


def _title(item: object) -> str:
    return type(getattr(item, "view", item)).__name__
