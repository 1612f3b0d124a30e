"""The fast front of the hot commands, ``kiln job list`` and ``kiln job create``: their options read without
typer (which, with pydantic and an adapter per option, costs ~150 ms of a start), then the same code as typer's
commands (``kiln.cli.job_actions``).

It reads only what it is sure typer reads the same way: each option once (``--set`` and ``--tag`` any number of
times), as
``--name VALUE``, ``--name=VALUE`` or ``-x VALUE``, with a value typer takes as it is (a status or an output format
named exactly, a limit in plain digits, a path or a name that does not start with ``-``). Anything else
(``--help``, a mistake, a rarer spelling, ``--stream``) is left to typer: so the help, every error message and
exit code are typer's own. tests/unit/cli/test_quick_front.py runs the same arguments through both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiln.cli.output import OutputFormat
from kiln.specs.job_status import JobStatus

LIMIT = re.compile(r"0|[1-9][0-9]*")


def _choice(kind: type[Any]) -> Callable[[str], Any | None]:
    values = {member.value: member for member in kind}
    return values.get


def _limit(value: str) -> int | None:
    return int(value) if LIMIT.fullmatch(value) else None


def _text(value: str) -> str | None:
    return value if value and not value.startswith("-") else None


def _path(value: str) -> Path | None:
    return Path(value) if _text(value) is not None else None


# each command: {spelling: (parameter, reader of its value, whether it may be repeated)}
Options = dict[str, tuple[str, Callable[[str], Any | None], bool]]
_OUTPUT = (("--output", "-o"), ("output", _choice(OutputFormat), False))
LIST_OPTIONS: Options = {
    "--status": ("status", _choice(JobStatus), False),
    "--limit": ("limit", _limit, False),
    "--tag": ("tags", _text, True),
    **dict.fromkeys(_OUTPUT[0], _OUTPUT[1]),
}
CREATE_OPTIONS: Options = {
    **dict.fromkeys(("--file", "-f"), ("file", _path, False)),
    "--rerun": ("rerun", _text, False),
    "--set": ("set", _text, True),
    **dict.fromkeys(_OUTPUT[0], _OUTPUT[1]),
}
COMMANDS = {("job", "list"): LIST_OPTIONS, ("job", "create"): CREATE_OPTIONS}


def read_options(args: list[str], options: Options) -> dict[str, Any] | None:
    """The options' values (a repeatable one's as a list), or None where typer should read ``args`` itself."""
    values: dict[str, Any] = {}
    remaining = list(args)
    while remaining:
        token = remaining.pop(0)
        name, equals, value = token.partition("=") if token.startswith("--") else (token, "", "")
        if name not in options:
            return None
        if not equals:
            if not remaining:
                return None
            value = remaining.pop(0)
        parameter, read, repeatable = options[name]
        parsed = read(value)
        if parsed is None:
            return None
        if repeatable:
            values.setdefault(parameter, []).append(parsed)
        elif parameter in values:
            return None
        else:
            values[parameter] = parsed
    return values


def run_quickly(args: list[str]) -> bool:
    """Run ``kiln ARGS`` here if it is a hot command whose options this front reads as typer would; False: it
    did not (typer runs it)."""
    options = COMMANDS.get(tuple(args[:2]))  # type: ignore[call-overload]
    values = read_options(args[2:], options) if options is not None else None
    if values is None:
        return False
    from kiln.cli import job_actions

    output = values.get("output", OutputFormat.table)
    if args[1] == "list":
        limit = values.get("limit", job_actions.LIST_LIMIT)
        job_actions.list_jobs(values.get("status"), limit, output, values.get("tags", []))
    else:
        job = job_actions.submit_job(values.get("file"), values.get("rerun"), values.get("set", []))
        job_actions.print_submitted(job, output)
    return True
