"""Every example command in the README parses with the CLI's own parser (no unknown option, no missing
argument, every choice valid), and every file it names exists. tests/integration/examples/test_readme.py
runs the sections that a test workspace can run as they are written."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import typer

from kiln.cli.main import app
from kiln.cli.usage_errors import USAGE_ERRORS
from tests.readme_commands import README, ReadmeCommand, readme_commands

COMMANDS = readme_commands()
FILE_OPTIONS = {"-f", "--file", "--request-file"}


def _parse(command: click.Command, args: list[str], parent: click.Context | None, name: str) -> click.Context:
    """The context the CLI would invoke ``args`` in, without invoking anything."""
    if hasattr(command, "list_commands"):
        probe = click.Context(command, parent=parent, info_name=name)
        if args and args[0] in command.list_commands(probe):  # type: ignore[attr-defined]
            sub = command.get_command(probe, args[0])  # type: ignore[attr-defined]
            loaded = sub.load() if hasattr(sub, "load") else sub  # a capability's command: its real one
            return _parse(loaded, args[1:], probe, args[0])
    return command.make_context(name, list(args), parent=parent)


def test_the_readme_has_its_examples() -> None:
    assert len(COMMANDS) > 50
    sections = {command.section for command in COMMANDS}
    assert {"Online endpoints", "Models and lineage", "Data assets", "Environments"} <= sections


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_a_readme_command_parses_as_the_cli_reads_it(command: ReadmeCommand) -> None:
    ctx = _parse(typer.main.get_command(app), list(command.as_usage()), None, "kiln")
    assert not ctx.args and not getattr(ctx, "protected_args", []), f"{command}: left over {ctx.args}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if FILE_OPTIONS & set(c.args)], ids=str)
def test_a_file_a_readme_command_names_is_in_the_repository(command: ReadmeCommand) -> None:
    for option, value in zip(command.args, command.args[1:], strict=False):
        if option in FILE_OPTIONS:
            assert (README.parent / value).is_file(), f"{command}: {value} does not exist (run from the repo root)"


def test_a_made_up_option_in_a_readme_line_would_be_caught() -> None:
    wrong = ReadmeCommand(1, "test", ("online-endpoint", "update", "-n", "iris", "--trafic", "blue=100"))
    with pytest.raises(USAGE_ERRORS, match="No such option"):
        _parse(typer.main.get_command(app), list(wrong.as_usage()), None, "kiln")
    assert Path(README).is_file()
