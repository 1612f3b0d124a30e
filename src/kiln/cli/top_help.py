"""``kiln --help`` drawn without typer: the same page typer's Rich formatter draws for the top-level group
(``typer.rich_utils.rich_format_help``), from the commands' names and help lines alone.

typer and its help formatter cost ~170 ms of CPU to import (the formatter imports Rich's Markdown and
traceback renderers, which this page never uses); this module imports Rich's console, table and panel.
tests/unit/cli/test_lazy_commands.py checks that the page is typer's, character for character, with
colours and without.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.align import Align
from rich.columns import Columns
from rich.console import Console, Group
from rich.highlighter import RegexHighlighter
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.theme import Theme

USAGE = "Usage: kiln [OPTIONS] COMMAND [ARGS]..."
SUMMARY = "kiln: a self-hosted machine-learning workspace."
OPTIONS = (
    ("--version", "<bool>", "Print kiln's version and exit."),
    ("--help", "<bool>", "Show this message and exit."),
)


class _OptionHighlighter(RegexHighlighter):  # typer.rich_utils.OptionHighlighter
    highlights = [
        r"(^|\W)(?P<switch>\-\w+)(?![a-zA-Z0-9])",
        r"(^|\W)(?P<option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
        r"(?P<types>\<[^\>]+\>)",
        r"(?P<usage>Usage: )",
    ]


class _TypesHighlighter(RegexHighlighter):  # typer.rich_utils.TypesHighlighter
    highlights = [r"^(?P<types_sep>(\[|<))", r"(?P<types_sep>\|)", r"(?P<types_sep>(\]|>))(\.\.\.)?$"]


def print_top_help(commands: Sequence[tuple[str, str]]) -> None:
    """The page, to stdout: usage, summary, the Options panel, the Commands panel (``(name, help line)``)."""
    highlight, types = _OptionHighlighter(), _TypesHighlighter()
    console = _console(highlight)
    console.print(Padding(highlight(USAGE), 1), style="bold")
    console.print(Padding(Align(Group(highlight(Text.from_markup(SUMMARY))), pad=False), (0, 1, 1, 1)))
    options = Table(
        highlight=True, show_header=False, expand=True, box=None, show_lines=False, leading=0, border_style=None,
        row_styles=None, pad_edge=False, padding=(0, 1),
    )  # fmt: skip
    for name, kind, help_line in OPTIONS:
        options.add_row(
            highlight(name), highlight(""), highlight(""), highlight(""),
            types(Text(kind, style="bold yellow", overflow="fold")),
            Columns([highlight(Text.from_markup(help_line))]),
        )  # fmt: skip
    console.print(Panel(options, border_style="dim", title="Options", title_align="left"))
    listed = Table(
        highlight=False, show_header=False, expand=True, box=None, show_lines=False, leading=0, border_style=None,
        row_styles=None, pad_edge=False, padding=(0, 1),
    )  # fmt: skip
    listed.add_column(style="bold cyan", no_wrap=True, width=max(len(name) for name, _ in commands))
    listed.add_column("Description", justify="left", no_wrap=False, ratio=10)
    for name, help_line in commands:
        listed.add_row(Text(name), highlight(Text.from_markup(help_line)))
    console.print(Panel(listed, border_style="dim", title="Commands", title_align="left"))
    print()  # click echoes the (empty) help text typer leaves it after printing the page


def _console(highlight: RegexHighlighter) -> Console:
    """typer.rich_utils._get_rich_console, reading the same variables."""
    width = os.getenv("TERMINAL_WIDTH")
    force = True if os.getenv("GITHUB_ACTIONS") or os.getenv("FORCE_COLOR") or os.getenv("PY_COLORS") else None
    if os.getenv("_TYPER_FORCE_DISABLE_TERMINAL"):
        force = False
    theme = Theme(
        {
            "option": "bold cyan", "switch": "bold green", "negative_option": "bold magenta",
            "negative_switch": "bold red", "types": "bold yellow", "types_sep": "dim", "usage": "yellow",
        }
    )  # fmt: skip
    return Console(
        theme=theme, highlighter=highlight, color_system="auto", force_terminal=force,
        width=int(width) if width else None,
    )  # fmt: skip
