"""Every usage mistake, in every command and sub-command, is one line on stderr and exit code 2: no traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click
import pytest
import typer

from kiln import __version__
from kiln.cli.main import app, main


def _leaves(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    if isinstance(command, click.Group) or hasattr(command, "list_commands"):
        ctx = click.Context(command)  # type: ignore[arg-type]
        for name in command.list_commands(ctx):  # type: ignore[attr-defined]
            sub = command.get_command(ctx, name)  # type: ignore[attr-defined]
            loaded = sub.load() if hasattr(sub, "load") else sub  # a capability's command: its real one
            yield from _leaves(loaded, (*path, name))
    else:
        yield path, command


LEAVES = list(_leaves(typer.main.get_command(app)))
REQUIRING = [(path, cmd) for path, cmd in LEAVES if any(p.required for p in cmd.params)]


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["kiln", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), capsys.readouterr().err


def test_the_walk_finds_every_command() -> None:
    paths = {" ".join(path) for path, _ in LEAVES}
    assert {"job create", "job show", "online-deployment create", "user token create", "tensorboard"} <= paths
    assert len(LEAVES) > 40 and len(REQUIRING) > 15


@pytest.mark.parametrize("path", [path for path, _ in LEAVES], ids=" ".join)
def test_an_unknown_option_is_one_line_and_exit_2(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(monkeypatch, capsys, *path, "--no-such-option")
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: No such option: --no-such-option"), err
    assert lines[0].endswith(f"(kiln {' '.join(path)} --help lists the options)")


@pytest.mark.parametrize("path", [path for path, _ in REQUIRING], ids=" ".join)
def test_a_missing_required_option_or_argument_is_one_line_and_exit_2(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(monkeypatch, capsys, *path)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Missing "), err
    assert lines[0].endswith(f"(kiln {' '.join(path)} --help lists the options)")


def test_an_unknown_command_a_group_alone_and_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(monkeypatch, capsys, "no-such-command")
    assert (code, err.splitlines()) == (
        2,
        ["error: No such command 'no-such-command'. (kiln --help lists the options)"],
    )
    monkeypatch.setattr(sys, "argv", ["kiln", "job"])
    with pytest.raises(SystemExit) as exited:
        main()
    shown = capsys.readouterr()
    assert exited.value.code == 2 and "Usage: kiln job" in shown.out and "Traceback" not in shown.out + shown.err
    monkeypatch.setattr(sys, "argv", ["kiln", "--version"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0 and capsys.readouterr().out == f"{__version__}\n"
