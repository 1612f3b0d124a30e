"""kiln's top-level commands as names and help lines, each loaded (its module imported) only when it runs.

``kiln --help`` lists them from :data:`BUILT_IN_COMMANDS` alone, as it lists capabilities' commands from
their descriptors: a sub-app's module (and the SDK, pydantic, httpx it imports) costs a command that
uses it, never ``kiln --help`` or ``kiln version``. tests/unit/cli/test_lazy_commands.py checks that each
help line here is the loaded command's own. Nothing here imports typer.
"""

from __future__ import annotations

from functools import cache

from kiln.capabilities import Capability, load_configured_capabilities
from kiln.capabilities.descriptor import CliCommand
from kiln.errors import InvalidSpec

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
    CliCommand(
        "ui", "kiln.cli.ui:ui_command", "Open the workspace's web UI, kiln studio, signed in (or print its link)."
    ),
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
    CliCommand(
        "audit",
        "kiln.cli.audit:audit_command",
        "Show who created, changed or deleted what in the workspace, when and from where (owners only).",
    ),
    CliCommand(
        "schema",
        "kiln.cli.schemas:app",
        "JSON Schemas of kiln's YAML files, for editors: kiln schema export --output schemas/.",
    ),
)


@cache
def cli_capabilities() -> tuple[Capability, ...]:
    """The built-in capabilities and the configured plug-ins, loaded once per command (their job kinds
    registered, so that ``kiln job create`` reads the YAML of every kind)."""
    return tuple(load_configured_capabilities())


def top_level_commands(capabilities: tuple[Capability, ...]) -> list[tuple[CliCommand, Capability | None]]:
    """kiln's own commands, then each capability's (with its capability); a name taken twice is refused."""
    listed: list[tuple[CliCommand, Capability | None]] = [(command, None) for command in BUILT_IN_COMMANDS]
    taken = {command.name for command in BUILT_IN_COMMANDS}
    for capability in capabilities:
        for command in capability.commands:
            if command.name in taken:
                raise InvalidSpec(
                    f"the capability '{capability.name}' adds the command 'kiln {command.name}', which kiln "
                    "already has; a capability's commands need names of their own"
                )
            taken.add(command.name)
            listed.append((command, capability))
    return listed
