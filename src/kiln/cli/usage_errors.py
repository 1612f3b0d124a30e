"""A mistake in how ``kiln`` was called, as one line: ``error: <what> (kiln job show --help lists the options)``.

Typer 0.29 parses with its own copy of click (``typer._click``), so its usage errors are not
click's classes; both families are caught here, by what they are (``UsageError``, ``ClickException``,
``Abort``, the "no arguments: show help" signal), never by a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

try:  # typer >= 0.29 vendors click; older typers use click itself
    from typer._click import exceptions as typer_click
except ImportError:  # pragma: no cover - the pinned typer has it
    typer_click = None  # type: ignore[assignment]

USAGE_ERRORS: tuple[type[BaseException], ...] = (click.UsageError,) + ((typer_click.UsageError,) if typer_click else ())
CLICK_ERRORS: tuple[type[BaseException], ...] = (click.ClickException,) + (
    (typer_click.ClickException,) if typer_click else ()
)
ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort,)
NO_ARGS_IS_HELP: tuple[type[BaseException], ...] = (
    (typer_click.NoArgsIsHelpError,) if typer_click and hasattr(typer_click, "NoArgsIsHelpError") else ()
)
USAGE_EXIT_CODE = 2


def run_reporting_usage_errors(run: Callable[[], Any]) -> Any:
    """``run()``; a usage error is printed as one line on stderr and exits 2, as every CLI does."""
    try:
        return run()
    except NO_ARGS_IS_HELP:  # `kiln job` alone: typer has printed its help, as `kiln job --help` does
        sys.exit(USAGE_EXIT_CODE)
    except USAGE_ERRORS as exc:
        print(f"error: {usage_line(exc)}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
    except CLICK_ERRORS as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)  # type: ignore[attr-defined]
        sys.exit(int(getattr(exc, "exit_code", 1)))


def usage_line(exc: BaseException) -> str:
    """The error and where to look: ``Missing option '--name' / '-n' (kiln job show --help lists the options)``."""
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "kiln"
    return f"{message} ({path} --help lists the options)"
