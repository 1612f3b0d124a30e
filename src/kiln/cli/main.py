"""Entry point of the ``kiln`` command. A user's mistake ends as ``error: …``, never a traceback.

Nothing is imported here before it is needed: ``kiln version`` is answered before typer is imported,
the group (``kiln.cli.root``) lists the commands by name, and each command's module is imported when it
runs (``kiln.cli.commands``), so that ``kiln --help`` and ``kiln version`` answer at once.
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
    from kiln.cli.capabilities import cli_capabilities
    from kiln.cli.root import app
    from kiln.cli.usage_errors import aborts, run_reporting_usage_errors

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


def __getattr__(name: str) -> Any:
    """``from kiln.cli.main import app, cli_capabilities``, as before they moved (typer is imported then)."""
    if name == "app":
        from kiln.cli.root import app

        return app
    if name == "cli_capabilities":
        from kiln.cli.capabilities import cli_capabilities

        return cli_capabilities
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
