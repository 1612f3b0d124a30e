"""A mistake in how ``kiln`` was called, as one line: ``error: <what> (kiln job show --help lists the options)``.

Typer 0.29 parses with its own copy of click (``typer._click``), so its usage errors are not
click's classes; both families are caught here, by what they are (``UsageError``, ``ClickException``,
``Abort``, the "no arguments: show help" signal), never by a traceback. click itself is not imported
for that (it would cost every ``kiln`` start ~25 ms): its exceptions can only be raised once something
has imported it, so its classes join the families then.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer
from typer._click import exceptions as typer_click

USAGE_EXIT_CODE = 2

__all__ = ["USAGE_EXIT_CODE", "aborts", "click_errors", "run_reporting_usage_errors", "usage_errors", "usage_line"]


def _with_click(ours: type[BaseException], name: str) -> tuple[type[BaseException], ...]:
    """``ours``, and click's class ``name`` where click is imported (by a library a command uses)."""
    click = sys.modules.get("click")
    return (ours, getattr(click.exceptions, name)) if click is not None else (ours,)


def usage_errors() -> tuple[type[BaseException], ...]:
    return _with_click(typer_click.UsageError, "UsageError")


def click_errors() -> tuple[type[BaseException], ...]:
    return _with_click(typer_click.ClickException, "ClickException")


def aborts() -> tuple[type[BaseException], ...]:
    """Ctrl+D at a prompt, a declined confirmation: typer's Abort, or click's."""
    return _with_click(typer.Abort, "Abort")


def __getattr__(name: str) -> Any:
    """``USAGE_ERRORS`` as the families are now (a test's ``pytest.raises(USAGE_ERRORS)``)."""
    if name == "USAGE_ERRORS":
        return usage_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_reporting_usage_errors(run: Callable[[], Any]) -> Any:
    """``run()``; a usage error is printed as one line on stderr and exits 2, as every CLI does."""
    try:
        return run()
    except typer_click.NoArgsIsHelpError:  # `kiln job` alone: typer has printed its help, as `kiln job --help` does
        sys.exit(USAGE_EXIT_CODE)
    except Exception as exc:
        if isinstance(exc, usage_errors()):
            print(f"error: {usage_line(exc)}", file=sys.stderr)
            sys.exit(USAGE_EXIT_CODE)
        if isinstance(exc, click_errors()):
            print(f"error: {exc.format_message()}", file=sys.stderr)  # type: ignore[attr-defined]
            sys.exit(int(getattr(exc, "exit_code", 1)))
        raise


def usage_line(exc: BaseException) -> str:
    """The error and where to look: ``Missing option '--name' / '-n' (kiln job show --help lists the options)``."""
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "kiln"
    return f"{message} ({path} --help lists the options)"
