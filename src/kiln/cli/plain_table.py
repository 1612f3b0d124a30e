"""A list table written as plain, column-aligned text: what ``kiln … list`` prints when its output is not a
terminal, or has too many rows for Rich to lay out quickly (Rich spends ~0.6 s of CPU on 1,000 rows).

It draws the table as Rich does for ``Table(show_edge=False)`` (header ``┃``, rule ``━╇━``, rows ``│``),
without colours, and fits it in ``width`` the way Rich does: the widest wrappable columns give way first,
their cells wrapped at spaces, a word that cannot fit cut with ``…``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection, Mapping, Sequence
from typing import TextIO

ELLIPSIS = "…"


def write_plain_table(
    out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[str]], width: int,
    no_wrap: Collection[str] = (), min_widths: Mapping[str, int] | None = None,
) -> None:  # fmt: skip
    """``rows`` (plain text, one string per column) under ``columns``, in at most ``width`` characters a
    line where the no-wrap columns allow it."""
    widths = _fit(columns, rows, width, no_wrap, min_widths or {})
    out.write(_line(_cells(columns, widths), widths, "┃") + "\n")
    out.write("╇".join("━" * (w + 2) for w in widths) + "\n")
    for row in rows:
        out.write(_line(_cells(row, widths), widths, "│") + "\n")


def _fit(
    columns: Sequence[str], rows: Sequence[Sequence[str]], width: int, no_wrap: Collection[str],
    min_widths: Mapping[str, int],
) -> list[int]:  # fmt: skip
    """Each column's width: its longest cell, then, while the table is too wide, the widest wrappable
    column narrowed to the next widest (never below its longest word's start or min width)."""
    widths = [
        max([len(name), min_widths.get(name) or 0] + [len(row[i]) for row in rows]) for i, name in enumerate(columns)
    ]
    floors = [
        widths[i] if name in no_wrap else max(min_widths.get(name) or 0, len(name), 1) for i, name in enumerate(columns)
    ]
    budget = width - 3 * len(columns) + 1  # one space each side of a cell, one separator between cells
    excess = sum(widths) - budget
    while excess > 0:
        wrappable = [i for i in range(len(widths)) if widths[i] > floors[i]]
        if not wrappable:
            break
        widest = max(widths[i] for i in wrappable)
        tied = [i for i in wrappable if widths[i] == widest]
        next_widest = max([widths[i] for i in wrappable if widths[i] < widest] + [max(floors[i] for i in tied)])
        step = min(widest - next_widest, -(-excess // len(tied))) or 1
        for i in tied:
            cut = min(step, widths[i] - floors[i], excess)
            widths[i] -= cut
            excess -= cut
    return widths


def _cells(row: Sequence[str], widths: Sequence[int]) -> list[list[str]]:
    """Each cell as the lines it takes in its column."""
    return [_wrap(text, width) for text, width in zip(row, widths, strict=True)]


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width and "\n" not in text:
        return [text]
    lines = [
        piece
        for paragraph in text.splitlines() or [""]
        for piece in (textwrap.wrap(paragraph, width, break_long_words=False, break_on_hyphens=False) or [""])
    ]
    return [line if len(line) <= width else line[: width - 1] + ELLIPSIS for line in lines]


def _line(cells: list[list[str]], widths: Sequence[int], separator: str) -> str:
    height = max(len(lines) for lines in cells)
    return "\n".join(
        separator.join(
            f" {(lines[k] if k < len(lines) else ''):<{width}} " for lines, width in zip(cells, widths, strict=True)
        )
        for k in range(height)
    )
