"""Entry point of the ``kiln`` command. A user's mistake ends as ``error: …``, never a traceback.

Only typer and the commands' names are imported here: each command's module is imported when it runs
(``kiln.cli.commands``), so that ``kiln --help`` and ``kiln version`` answer at once.
"""

from __future__ import annotations

import sys

import typer

from kiln import __version__
from kiln.cli.capabilities import KilnCommands, cli_capabilities
from kiln.cli.usage_errors import aborts, run_reporting_usage_errors
from kiln.errors import KilnError

__all__ = ["app", "cli_capabilities", "main"]

app = typer.Typer(
    cls=KilnCommands,  # kiln's own commands, then each capability's, loaded when they run
    help="kiln: a self-hosted machine-learning workspace.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def version() -> None:
    """Print kiln's version."""
    print(__version__)


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print kiln's version and exit."
    ),
) -> None:
    """kiln: a self-hosted machine-learning workspace."""


VERSION_ARGS = (["version"], ["--version"])


def main() -> None:
    if sys.argv[1:] in VERSION_ARGS:  # answered before typer parses anything (it builds pydantic validators)
        print(__version__)
        sys.exit(0)
    try:
        cli_capabilities()  # plug-ins' job kinds are known to every command; a bad plug-in is an error here
        code = run_reporting_usage_errors(lambda: app(standalone_mode=False, prog_name="kiln"))
    except KilnError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, aborts()):
            print("aborted", file=sys.stderr)
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
