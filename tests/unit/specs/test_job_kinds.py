"""The job-kind registry: a type names its spec class; unknown types are clear errors."""

from __future__ import annotations

import pytest

from kiln.errors import InvalidSpec
from kiln.specs.job import CommandJobSpec
from kiln.specs.job_kinds import JobKind, job_kind, job_kinds, parse_job_spec, register_job_kind
from kiln.specs.yaml_source import parse_yaml


def test_a_job_without_type_is_a_command_job() -> None:
    spec = parse_job_spec({"command": "echo hi"})
    assert isinstance(spec, CommandJobSpec)
    assert spec.command == "echo hi"


def test_an_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(InvalidSpec, match=r"type: 'sweep' is not a job type .*known types: command"):
        parse_job_spec({"type": "sweep", "command": "x"})


def test_errors_name_the_line_of_a_yaml_source() -> None:
    source = parse_yaml("type: command\ncommand: echo\ntimeout_typo: 3\n")
    with pytest.raises(InvalidSpec, match="line 3") as caught:
        parse_job_spec(source)
    assert "timeout_typo" in caught.value.message


def test_a_taken_type_cannot_be_claimed_by_another_declaration() -> None:
    command = job_kind("command")
    register_job_kind(command)  # the same declaration again: a no-op
    assert [kind.type for kind in job_kinds()].count("command") == 1
    with pytest.raises(ValueError, match="already registered"):
        register_job_kind(JobKind("command", spec="elsewhere:Spec", handler="elsewhere:Handler"))
