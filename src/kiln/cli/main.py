"""Entry point of the ``kiln`` command. A user's mistake ends as ``error: …``, never a traceback.

Nothing is imported here before it is needed: ``kiln version`` is answered before typer is imported, and
so is ``kiln --help`` (``kiln.cli.top_help`` draws typer's page), and so are ``kiln job list`` and ``kiln job
create`` when their options are spelled as ``kiln.cli.quick`` reads them; the group (``kiln.cli.root``) lists the
commands by name, and each command's module is imported when it runs (``kiln.cli.commands``).
"""

from __future__ import annotations

import sys
from typing import Any

from kiln import __version__
from kiln.errors import KilnError

__all__ = ["main", "version"]  # and, loaded on first use, app and cli_capabilities (__getattr__)

VERSION_ARGS = (["version"], ["--version"])


def version() -> None:
    """Print kiln's version."""
    print(__version__)


def main() -> None:
    if sys.argv[1:] in VERSION_ARGS:  # typer costs more than the answer: not imported for it
        version()
        sys.exit(0)
    try:
        code = _run(sys.argv[1:])
    except KilnError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        from kiln.cli.usage_errors import aborts

        if isinstance(exc, aborts()):
            print("aborted", file=sys.stderr)
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _run(args: list[str]) -> Any:
    from kiln.cli.command_list import cli_capabilities, top_level_commands

    capabilities = cli_capabilities()  # plug-ins' job kinds are known to every command; a bad plug-in is an error here
    if args == ["--help"]:  # the page typer draws, drawn without importing typer (kiln.cli.top_help)
        from kiln.cli.top_help import print_top_help

        print_top_help([(command.name, command.help) for command, _ in top_level_commands(capabilities)])
        return 0
    if args[:1] == ["job"] and args[1:2] in (["list"], ["create"]):  # the hot commands, read without typer
        from kiln.cli.quick import run_quickly

        top_level_commands(capabilities)  # a plug-in's command named 'job' is refused here too, as typer's group does
        if run_quickly(args):
            return 0
    from kiln.cli.root import app
    from kiln.cli.usage_errors import run_reporting_usage_errors

    return run_reporting_usage_errors(lambda: app(standalone_mode=False, prog_name="kiln"))


def __getattr__(name: str) -> Any:
    """``from kiln.cli.main import app, cli_capabilities``, as before they moved (typer is imported then)."""
    if name == "app":
        from kiln.cli.root import app

        return app
    if name == "cli_capabilities":
        from kiln.cli.command_list import cli_capabilities

        return cli_capabilities
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
