"""The top-level ``kiln`` group: its options, and every command as a name and a help line until it runs
(``kiln.cli.commands``, ``kiln.cli.capabilities``)."""

from __future__ import annotations

import typer

from kiln import __version__
from kiln.cli.capabilities import KilnCommands

app = typer.Typer(
    cls=KilnCommands,  # kiln's own commands, then each capability's, loaded when they run
    help="kiln: a self-hosted machine-learning workspace.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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
