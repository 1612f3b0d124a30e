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
    with pytest.raises(InvalidSpec, match=r"type: 'no-such-kind' is not a job type .*known types: command"):
        parse_job_spec({"type": "no-such-kind", "command": "x"})


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


@pytest.mark.parametrize(
    ("job_type", "instead"),
    [("parallel", "process_count_per_instance"), ("spark", "pyspark"), ("automl", "")],
)
def test_azure_types_kiln_does_not_run_are_refused_by_type_before_any_schema(job_type: str, instead: str) -> None:
    source = parse_yaml(
        f"$schema: https://azuremlschemas.azureedge.net/x.json\nname: x\ntype: {job_type}\ntrial: {{}}\n"
    )
    with pytest.raises(InvalidSpec) as caught:
        parse_job_spec(source)
    message = caught.value.message
    assert message.startswith(f"<spec>, line 3: type: kiln does not run 'type: {job_type}' jobs (it runs: command")
    assert instead in message and "unknown field" not in message  # not a list of schema errors


def test_schedules_and_data_imports_are_said_to_be_what_they_are() -> None:
    schedule = {"name": "nightly", "trigger": {"type": "cron", "expression": "0 0 * * *"}, "create_job": "job.yml"}
    with pytest.raises(InvalidSpec, match="this is a schedule.*kiln schedule create -f FILE"):
        parse_job_spec(schedule)
    data_import = {"type": "mltable", "name": "x", "source": {"type": "database", "query": "select 1"}}
    with pytest.raises(InvalidSpec, match="this is a data import"):
        parse_job_spec(data_import)
