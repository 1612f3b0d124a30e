"""The fast front of ``kiln job list`` and ``kiln job create`` (``kiln.cli.quick``) reads their options as typer
does, or leaves them to typer: for each spelling, the values it reads are the values typer's command receives, and
what it declines (help, mistakes, rarer spellings) goes to typer, whose errors stay one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from kiln.cli import jobs as typer_jobs
from kiln.cli import quick
from kiln.cli.main import main
from kiln.cli.output import OutputFormat
from kiln.cli.root import app
from kiln.specs.job_status import JobStatus

READ_QUICKLY = [
    ["job", "list"],
    ["job", "list", "--limit", "1000"],
    ["job", "list", "--limit=7", "--status", "completed"],
    ["job", "list", "--status=failed", "-o", "json"],
    ["job", "list", "--output", "table", "--limit", "0"],
    ["job", "list", "--output=json"],
    ["job", "list", "--tag", "team=vision", "--tag=reviewed", "--status", "failed"],
    ["job", "create", "-f", "job.yml"],
    ["job", "create", "--file", "sub/job.yml", "-o", "json"],
    ["job", "create", "--file=job.yml", "--set", "limits.timeout=60", "--set=name=x", "--set", "inputs.a=b=c"],
    ["job", "create", "--rerun", "train-1", "--output", "json"],
    ["job", "create", "--rerun=train-1", "--set", "a=1"],  # typer's command refuses the mix: the same InvalidSpec
    ["job", "create"],  # neither --file nor --rerun: the command's own error, after reading no option
]
LEFT_TO_TYPER = [
    ["job", "list", "--help"],
    ["job", "list", "--limit", "-3"],
    ["job", "list", "--limit", "007"],
    ["job", "list", "--limit", "1e3"],
    ["job", "list", "--limit"],
    ["job", "list", "--limit", "5", "--limit", "6"],
    ["job", "list", "--status", "Completed"],
    ["job", "list", "--status", "bogus"],
    ["job", "list", "-ojson"],
    ["job", "list", "-o=json"],
    ["job", "list", "extra"],
    ["job", "list", "--", "--limit", "5"],
    ["job", "create", "-f", "a.yml", "--stream"],
    ["job", "create", "-fjob.yml"],
    ["job", "create", "-f", "-"],
    ["job", "create", "--file", ""],
    ["job", "create", "--rerun", "--stream"],
    ["job", "create", "-f", "a.yml", "-f", "b.yml"],
    ["job", "create", "--set", "-x"],
    ["job", "show", "-n", "x"],
    ["job"],
    ["job", "create", "-f", "a.yml", "--wait"],  # typer's alone: the front knows neither
    ["job", "create", "-f", "a.yml", "--dry-run", "-o", "json"],
]


def typer_reads(args: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What typer's command receives for ``kiln ARGS`` (the actions replaced by recorders)."""
    seen: dict[str, Any] = {}

    def list_jobs(status: JobStatus | None, limit: int, output: OutputFormat, tags: list[str]) -> None:
        seen.update(status=status, limit=limit, output=output, tags=tags)

    def submit_job(file: Path | None, rerun: str | None, overrides: list[str]) -> object:
        seen.update(file=file, rerun=rerun, set=overrides)
        return object()

    def print_submitted(job: object, output: OutputFormat) -> None:
        seen.update(output=output)

    monkeypatch.setattr(typer_jobs, "list_jobs", list_jobs)
    monkeypatch.setattr(typer_jobs, "submit_job", submit_job)
    monkeypatch.setattr(typer_jobs, "print_submitted", print_submitted)
    app(args, standalone_mode=False, prog_name="kiln")
    return seen


def quick_reads(args: list[str]) -> dict[str, Any] | None:
    options = quick.COMMANDS.get(tuple(args[:2]))  # type: ignore[call-overload]
    values = quick.read_options(args[2:], options) if options is not None else None
    if values is None:
        return None
    if args[1] == "list":
        defaults = {"status": None, "limit": typer_jobs.LIST_LIMIT, "output": OutputFormat.table, "tags": []}
    else:
        defaults = {"file": None, "rerun": None, "set": [], "output": OutputFormat.table}
    return defaults | values


@pytest.mark.parametrize("args", READ_QUICKLY, ids=" ".join)
def test_what_the_front_reads_is_what_typer_reads(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    ours = quick_reads(args)
    assert ours is not None, f"{args} should be read without typer"
    theirs = typer_reads(args, monkeypatch)
    if args[1] == "create" and "output" not in theirs:  # the command refused before printing: no output read
        theirs["output"] = ours["output"]
    assert ours == theirs
    assert {type(v) for v in ours.values()} == {type(v) for v in theirs.values()}


@pytest.mark.parametrize("args", LEFT_TO_TYPER, ids=" ".join)
def test_what_the_front_does_not_read_surely_is_left_to_typer(args: list[str]) -> None:
    assert quick_reads(args) is None
    assert quick.run_quickly(args) is False  # nothing run: typer reads it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["job", "list", "--status", "bogus"], "error: Invalid value for '--status'"),
        (["job", "list", "--limit", "many"], "error: Invalid value for '--limit'"),
        (["job", "list", "--limit"], "error: Option '--limit' requires an argument."),
        (["job", "create", "-f", "a.yml", "--nope"], "error: No such option: --nope"),
        (["job", "list", "extra"], "error: Got unexpected extra argument(s) (extra)"),
    ],
)
def test_a_mistake_is_typers_one_line_and_exit_2(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["kiln", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2 and len(err.splitlines()) == 1 and err.startswith(message), err


def test_the_command_s_own_refusals_are_the_same_through_the_front(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kiln job create`` with neither --file nor --rerun (or both): the command's error, exit 2, no server asked."""
    for args in (["job", "create"], ["job", "create", "-f", "a.yml", "--rerun", "x"]):
        monkeypatch.setattr(sys, "argv", ["kiln", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        err = capsys.readouterr().err
        assert exited.value.code == 2
        assert err == "error: give either --file (a job's YAML) or --rerun NAME (a job to run again)\n"
