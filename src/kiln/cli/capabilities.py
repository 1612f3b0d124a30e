"""Capabilities' commands in ``kiln``: listed by ``kiln --help`` from their descriptors alone, loaded
(their modules imported) only when one of them runs."""

from __future__ import annotations

from functools import cache
from typing import Any

from typer.core import TyperGroup

from kiln.capabilities import Capability, load_configured_capabilities
from kiln.cli.commands import BUILT_IN_COMMANDS, LazyCommand
from kiln.errors import InvalidSpec


@cache
def cli_capabilities() -> tuple[Capability, ...]:
    """The built-in capabilities and the configured plug-ins, loaded once per command (their job kinds
    registered, so that ``kiln job create`` reads the YAML of every kind)."""
    return tuple(load_configured_capabilities())


class KilnCommands(TyperGroup):
    """kiln's top-level commands: kiln's own (``kiln.cli.commands``), then each capability's; all of them
    names and help lines until one runs."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for command in BUILT_IN_COMMANDS:
            self.add_command(LazyCommand(command))
        for capability in cli_capabilities():
            for command in capability.commands:
                if command.name in self.commands:
                    raise InvalidSpec(
                        f"the capability '{capability.name}' adds the command 'kiln {command.name}', which kiln "
                        "already has; a capability's commands need names of their own"
                    )
                self.add_command(LazyCommand(command, capability))
