"""kiln's top-level commands as names and help lines, each loaded (its module imported) only when it runs.

``kiln --help`` lists them from :data:`BUILT_IN_COMMANDS` alone, as it lists capabilities' commands from
their descriptors: a sub-app's module (and the SDK, pydantic, httpx it imports) costs a command that
uses it, never ``kiln --help`` or ``kiln version``. tests/unit/cli/test_lazy_commands.py checks that each
help line here is the loaded command's own.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

from kiln.capabilities.descriptor import Capability, CliCommand

BUILT_IN_COMMANDS: tuple[CliCommand, ...] = (
    CliCommand(
        "lineage",
        "kiln.cli.models:lineage_command",
        "Print where a model version came from: jobs, data, code, environments, earlier models.",
    ),
    CliCommand(
        "login",
        "kiln.cli.users:login_command",
        "Check a token against a workspace and keep both for the CLI and SDK (a file only you can read).",
    ),
    CliCommand(
        "logout",
        "kiln.cli.users:logout_command",
        "Forget the stored login; the CLI goes back to the local workspace (the token itself stays valid).",
    ),
    CliCommand("version", "kiln.cli.main:version", "Print kiln's version."),
    CliCommand("job", "kiln.cli.jobs:app", "Train and track jobs (command jobs, and every other registered type)."),
    CliCommand(
        "environment", "kiln.cli.environments:app", "Python environments for jobs: built with uv, cached by content."
    ),
    CliCommand(
        "compute",
        "kiln.cli.compute:app",
        "Compute targets: 'local' (this machine), named local computes and Ray clusters.",
    ),
    CliCommand(
        "datastore",
        "kiln.cli.datastores:app",
        "Datastores: where remote data lives (blob, ADLS Gen2, S3, GCS, a shared folder, HTTPS).",
    ),
    CliCommand("data", "kiln.cli.data:app", "Data assets: immutable, versioned files and folders that jobs read."),
    CliCommand("server", "kiln.cli.server:app", "Run or manage the workspace server."),
    CliCommand("model", "kiln.cli.models:app", "Register, version, alias and download models (MLflow's registry)."),
    CliCommand(
        "online-endpoint",
        "kiln.cli.endpoints:endpoint_app",
        "Online endpoints: scoring URIs with keys and blue/green traffic.",
    ),
    CliCommand(
        "online-deployment", "kiln.cli.endpoints:deployment_app", "Deployments of models behind an online endpoint."
    ),
    CliCommand("user", "kiln.cli.users:app", "Users, their roles (reader, contributor, owner) and API tokens."),
    CliCommand(
        "workspace",
        "kiln.cli.transfer:app",
        "Move a workspace: export it to one file, import that file into another workspace (KILN_URL).",
    ),
)


class LazyCommand(TyperCommand):
    """A command as ``kiln --help`` lists it: a name and a help line. Running it (its ``--help`` too) loads
    the real command; a capability's, after checking that the capability's extra is installed."""

    def __init__(self, command: CliCommand, capability: Capability | None = None) -> None:
        super().__init__(command.name, help=command.help, short_help=command.help)
        self.command = command
        self.capability = capability
        self._loaded: Any = None

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        """The real command's context: the group then invokes the real command."""
        return self.load().make_context(info_name, args, parent=parent, **extra)

    def load(self) -> Any:
        """The real command (MissingExtra first, when a capability's extra is not installed)."""
        if self._loaded is None:
            if self.capability is not None and not self.command.checks_extra_itself:
                self.capability.check_installed(needed_by=f"kiln {self.command.name}")
            self._loaded = _real_command(self.command)
        return self._loaded


def _real_command(command: CliCommand) -> Any:
    target = command.load_target()
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = command.name
        return group
    if callable(target):
        single = typer.Typer(add_completion=False)  # as the top-level app: no --install-completion per command
        single.command(command.name)(target)
        return typer.main.get_command(single)
    raise TypeError(f"{command.target} is neither a typer.Typer nor a function")
