"""Capabilities' commands in ``kiln``: listed by ``kiln --help`` from their descriptors alone, loaded
(their modules imported) only when one of them runs."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

from kiln.cli.command_list import cli_capabilities, top_level_commands
from kiln.cli.commands import LazyCommand

__all__ = ["KilnCommands", "cli_capabilities"]


class KilnCommands(TyperGroup):
    """kiln's top-level commands: kiln's own (``kiln.cli.commands``), then each capability's; all of them
    names and help lines until one runs."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for command, capability in top_level_commands(cli_capabilities()):
            self.add_command(LazyCommand(command, capability))
