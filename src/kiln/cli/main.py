"""Entry point of the ``kiln`` command. A user's mistake ends as ``error: …``, never a traceback."""

from __future__ import annotations

import sys

import typer

from kiln import __version__
from kiln.cli import compute, data, datastores, endpoints, environments, jobs, models, server, transfer, users
from kiln.cli.capabilities import KilnCommands, cli_capabilities
from kiln.cli.usage_errors import ABORTS, run_reporting_usage_errors
from kiln.errors import KilnError

app = typer.Typer(
    cls=KilnCommands,  # then each capability's commands (kiln.capabilities), loaded when they run
    help="kiln: a self-hosted machine-learning workspace.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(jobs.app, name="job")
app.add_typer(environments.app, name="environment")
app.add_typer(compute.app, name="compute")
app.add_typer(datastores.app, name="datastore")
app.add_typer(data.app, name="data")
app.add_typer(server.app, name="server")
app.add_typer(models.app, name="model")
app.add_typer(endpoints.endpoint_app, name="online-endpoint")
app.add_typer(endpoints.deployment_app, name="online-deployment")
app.command("lineage")(models.lineage_command)
app.add_typer(users.app, name="user")
app.command("login")(users.login_command)
app.command("logout")(users.logout_command)
app.add_typer(transfer.app, name="workspace")


@app.command("version")
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


def main() -> None:
    try:
        cli_capabilities()  # plug-ins' job kinds are known to every command; a bad plug-in is an error here
        code = run_reporting_usage_errors(lambda: app(standalone_mode=False, prog_name="kiln"))
    except KilnError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except ABORTS:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
