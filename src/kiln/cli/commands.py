"""A top-level command as the group holds it until it runs: a name and a help line
(``kiln.cli.command_list``), its module imported when it runs."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

from kiln.capabilities.descriptor import Capability, CliCommand
from kiln.cli.command_list import BUILT_IN_COMMANDS

__all__ = ["BUILT_IN_COMMANDS", "LazyCommand"]


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
