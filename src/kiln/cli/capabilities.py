"""Capabilities' commands in ``kiln``: listed by ``kiln --help`` from their descriptors alone, loaded
(their modules imported) only when one of them runs."""

from __future__ import annotations

from functools import cache
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from kiln.capabilities import Capability, CliCommand, load_configured_capabilities
from kiln.errors import InvalidSpec
from kiln.specs.job_kinds import load_attribute


@cache
def cli_capabilities() -> tuple[Capability, ...]:
    """The built-in capabilities and the configured plug-ins, loaded once per command (their job kinds
    registered, so that ``kiln job create`` reads the YAML of every kind)."""
    return tuple(load_configured_capabilities())


class CapabilityCommand(TyperCommand):
    """A capability's command as ``kiln --help`` lists it: a name and a help line. Running it (its
    ``--help`` too) loads the real command, after checking that the capability's extra is installed."""

    def __init__(self, capability: Capability, command: CliCommand) -> None:
        super().__init__(command.name, help=command.help, short_help=command.help)
        self.capability = capability
        self.command = command

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        """The real command's context: the group then invokes the real command."""
        return self.load().make_context(info_name, args, parent=parent, **extra)

    def load(self) -> Any:
        """The real command (MissingExtra first, when the capability's extra is not installed)."""
        if not self.command.checks_extra_itself:
            self.capability.check_installed(needed_by=f"kiln {self.command.name}")
        target = load_attribute(self.command.target)
        if isinstance(target, typer.Typer):
            group = typer.main.get_group(target)
            group.name = self.command.name
            return group
        if callable(target):
            single = typer.Typer()
            single.command(self.command.name)(target)
            return typer.main.get_command(single)
        raise TypeError(f"{self.command.target} is neither a typer.Typer nor a function")


class KilnCommands(TyperGroup):
    """kiln's top-level commands: those ``kiln.cli.main`` adds, then each capability's."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for capability in cli_capabilities():
            for command in capability.commands:
                if command.name in self.commands:
                    raise InvalidSpec(
                        f"the capability '{capability.name}' adds the command 'kiln {command.name}', which kiln "
                        "already has; a capability's commands need names of their own"
                    )
                self.add_command(CapabilityCommand(capability, command))
