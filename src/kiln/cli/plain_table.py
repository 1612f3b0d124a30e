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
PADDING = 2  # a space each side of a cell


def write_plain_table(
    out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[str]], width: int,
    no_wrap: Collection[str] = (), min_widths: Mapping[str, int] | None = None,
) -> None:  # fmt: skip
    """``rows`` (plain text, one string per column) under ``columns``, in at most ``width`` characters a
    line where the no-wrap columns allow it."""
    widths = _fit(columns, rows, width, no_wrap, min_widths or {})
    wraps = [name not in no_wrap for name in columns]
    out.write(_line(_cells(columns, widths, wraps), widths, "┃", header=True) + "\n")
    out.write("╇".join("━" * (w + PADDING) for w in widths) + "\n")
    one_line = "│".join(f" {{:<{w}}} " for w in widths).format  # a row whose every cell fits on its line
    lines = []
    for row in rows:
        if all(len(text) <= w and "\n" not in text for text, w in zip(row, widths, strict=True)):
            lines.append(one_line(*row))
        else:
            lines.append(_line(_cells(row, widths, wraps), widths, "│"))
    if lines:
        out.write("\n".join(lines) + "\n")


def _fit(
    columns: Sequence[str], rows: Sequence[Sequence[str]], width: int, no_wrap: Collection[str],
    min_widths: Mapping[str, int],
) -> list[int]:  # fmt: skip
    """Each column's text width, found as Rich's ``Table._calculate_column_widths`` finds it (widths with
    the cells' padding here): the widest cell; if the table is too wide, the widest wrappable columns
    narrowed to the next widest, in turn; if still too wide, every column narrowed evenly."""
    natural = [
        max(len(line) for text in (name, *(row[i] for row in rows)) for line in text.split("\n") or [""])
        for i, name in enumerate(columns)
    ]
    floors = [min_widths.get(name) for name in columns]

    def measure(i: int, limit: int) -> int:  # Rich's _measure_column: the widest cell, padding included
        if limit < 1:
            return 0
        measured = min(natural[i] + PADDING, limit)
        floor = floors[i]
        return measured if floor is None else max(measured, floor + PADDING)

    max_width = width - (len(columns) - 1)  # the separators between columns
    widths = [measure(i, max_width) or 1 for i in range(len(columns))]
    if sum(widths) > max_width:
        widths = _collapse(widths, [name not in no_wrap for name in columns], max_width)
        if sum(widths) > max_width:
            widths = _ratio_reduce(sum(widths) - max_width, [1] * len(widths), widths, widths)
        widths = [measure(i, w) for i, w in enumerate(widths)]
    return [max(w - PADDING, 0) for w in widths]


def _collapse(widths: list[int], wrappable: list[bool], max_width: int) -> list[int]:
    """Rich's ``Table._collapse_widths``: the widest wrappable columns down to the next widest, until it fits."""
    excess = sum(widths) - max_width
    while any(wrappable) and sum(widths) and excess > 0:
        widest = max(w for w, wraps in zip(widths, wrappable, strict=True) if wraps)
        second = max((w if wraps and w != widest else 0) for w, wraps in zip(widths, wrappable, strict=True))
        ratios = [1 if (w == widest and wraps) else 0 for w, wraps in zip(widths, wrappable, strict=True)]
        if not any(ratios) or not widest - second:
            break
        widths = _ratio_reduce(excess, ratios, [min(excess, widest - second)] * len(widths), widths)
        excess = sum(widths) - max_width
    return widths


def _ratio_reduce(total: int, ratios: list[int], maximums: list[int], values: list[int]) -> list[int]:
    """Rich's ``rich._ratio.ratio_reduce``: ``total`` taken off ``values`` in proportion to ``ratios``."""
    ratios = [ratio if maximum else 0 for ratio, maximum in zip(ratios, maximums, strict=True)]
    total_ratio, remaining, result = sum(ratios), total, []
    for ratio, maximum, value in zip(ratios, maximums, values, strict=True):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            result.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            result.append(value)
    return result


def _cells(row: Sequence[str], widths: Sequence[int], wraps: Sequence[bool]) -> list[list[str]]:
    """Each cell as the lines it takes in its column."""
    return [_wrap(text, width, wrap) for text, width, wrap in zip(row, widths, wraps, strict=True)]


def _wrap(text: str, width: int, wrap: bool) -> list[str]:
    """The cell's lines: wrapped at spaces (in a wrappable column), each cut with … where it is too long."""
    if len(text) <= width and "\n" not in text:
        return [text]
    paragraphs = text.split("\n")
    lines = (
        [
            piece
            for line in paragraphs
            for piece in (textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [""])
        ]
        if wrap and width > 0
        else paragraphs
    )
    return [line if len(line) <= width else (line[: width - 1] + ELLIPSIS if width > 0 else "") for line in lines]


def _line(cells: list[list[str]], widths: Sequence[int], separator: str, header: bool = False) -> str:
    """One row, its cells side by side; a header's cells at the bottom of the row, as Rich puts them."""
    height = max(len(lines) for lines in cells)
    cells = [([""] * (height - len(lines)) + lines) if header else lines for lines in cells]
    return "\n".join(
        separator.join(
            f" {(lines[k] if k < len(lines) else ''):<{width}} " for lines, width in zip(cells, widths, strict=True)
        )
        for k in range(height)
    )
