"""The bounded types (kiln.specs.bounded) and the bounded YAML loader, as the specs use them."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.errors import InvalidSpec
from kiln.specs import bounded
from kiln.specs.endpoint import OnlineDeploymentSpec
from kiln.specs.job_kinds import parse_job_spec
from kiln.specs.users import UserSpec
from kiln.specs.yaml_source import MAX_YAML_ALIASES, load_yaml, parse_yaml

JOB = {"type": "command", "command": "echo hi"}


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(InvalidSpec) as caught:
        parse_job_spec({**JOB, **data})
    return caught.value.message


@pytest.mark.parametrize(
    ("fields", "field", "why"),
    [
        ({"limits": {"timeout": 1e30}}, "limits.timeout", ""),
        ({"limits": {"timeout": 10**30}}, "limits.timeout", "less than or equal to 7776000"),
        ({"limits": {"timeout": 10**12}}, "limits.timeout", "less than or equal to 7776000"),
        ({"limits": {"timeout": 0}}, "limits.timeout", "greater than 0"),
        ({"distribution": {"type": "pytorch", "process_count_per_instance": 1_000_000}},
         "distribution.process_count_per_instance", "less than or equal to 256"),
        ({"resources": {"instance_count": 1_000_000}}, "resources.instance_count", "less than or equal to 100"),
        ({"resources": {"gpu_count": 10_000}}, "resources.gpu_count", "less than or equal to 64"),
        ({"command": "echo \x00"}, "command", "NUL"),
        ({"command": "x" * (5 << 20)}, "command", "at most 100000 characters"),
        ({"experiment_name": "e" * 10_000}, "experiment_name", "at most 256 characters"),
        ({"display_name": "d" * 300}, "display_name", "at most 256 characters"),
        ({"description": "d" * 70_000}, "description", "at most 65536 characters"),
        ({"environment_variables": {"A=B": "x"}}, "environment_variables", "'A=B' is not an environment variable"),
        ({"environment_variables": {"": "x"}}, "environment_variables", "'' is not an environment variable"),
        ({"environment_variables": {"1X": "x"}}, "environment_variables", "'1X' is not an environment variable"),
        ({"environment_variables": {"A\x00": "x"}}, "environment_variables", "is not an environment variable"),
        ({"environment_variables": {"A": "a\x00b"}}, "environment_variables", "'A': contains a NUL"),
        ({"environment_variables": {"A": "v" * 40_000}}, "environment_variables", "at most 32768"),
        ({"environment_variables": {f"V{i}": "v" for i in range(501)}}, "environment_variables", "at most 500"),
        ({"tags": {"k" * 251: "v"}}, "tags", "is not a tag key"),
        ({"tags": {"'é": "v"}}, "tags", "is not a tag key"),
        ({"tags": {"a/../b": "v"}}, "tags", "is not a tag key"),
        ({"tags": {"k": "v" * 5001}}, "tags", "at most 5000"),
        ({"code": "src\x00/../x"}, "code", "NUL"),
        ({"inputs": {"n": "v" * 40_000}}, "inputs", "at most 32768"),
    ],
)  # fmt: skip
def test_a_value_past_its_bound_is_refused_naming_the_field(fields: dict[str, Any], field: str, why: str) -> None:
    message = refusal(fields)
    assert f"field '{field}'" in message and why in message, message


def test_values_within_the_bounds_are_accepted() -> None:
    spec = parse_job_spec(
        {
            **JOB,
            "limits": {"timeout": bounded.MAX_JOB_TIMEOUT_SECONDS},
            "distribution": {"type": "pytorch", "process_count_per_instance": bounded.MAX_PROCESSES_PER_INSTANCE},
            "environment_variables": {"_OK_1": "v" * bounded.MAX_VARIABLE_VALUE_LENGTH, "N": 3, "B": True},
            "tags": {"k": 1, "flag": True, "text": "t"},
            "command": "c" * bounded.MAX_COMMAND_LENGTH,
            "experiment_name": "e" * bounded.MAX_SHORT_TEXT_LENGTH,
        }
    )
    assert spec.environment_variables["N"] == 3  # type: ignore[attr-defined]


def test_a_deployments_numbers_and_variables_are_bounded() -> None:
    base = {"name": "blue", "endpoint_name": "ep", "model": "kiln:m:1"}
    for extra, field in [
        ({"request_settings": {"max_concurrent_requests_per_instance": 1_000_000}}, "max_concurrent_requests"),
        ({"instance_count": 65}, "instance_count"),
        ({"liveness_probe": {"failure_threshold": 10**9}}, "failure_threshold"),
        ({"batching": {"max_queue_delay_ms": float("inf")}}, "max_queue_delay_ms"),
        ({"environment_variables": {"A=B": "x"}}, "environment_variables"),
    ]:
        with pytest.raises(ValueError, match=field):
            OnlineDeploymentSpec.model_validate({**base, **extra})


@pytest.mark.parametrize("name", ["workspace", "Workspace", "WORKSPACE", "wOrKsPaCe"])
def test_the_reserved_user_name_is_reserved_in_any_case(name: str) -> None:
    with pytest.raises(ValueError, match="names whoever uses the workspace token"):
        UserSpec.model_validate({"name": name, "role": "reader"})


def alias_bomb(levels: int, width: int = 9) -> str:
    """``levels`` anchors, each a list of ``width`` aliases of the one before: width**levels values expanded."""
    lines = ["l0: &l0 [" + ", ".join(["x"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once_naming_the_file() -> None:
    with pytest.raises(InvalidSpec, match=r"^job\.yml: refused: the YAML has more than \d+ values once"):
        load_yaml(alias_bomb(9), "job.yml")  # expanded, it would be 10^18 values: refused before that


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a: &a [*a]\n", "an alias inside its own anchor"),
        ("[" * 150 + "]" * 150, "nested more than 100 deep"),
        ("a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_YAML_ALIASES + 1)) + "]\n", f"more than {MAX_YAML_ALIASES} aliases"),
    ],
)
def test_other_costly_yaml_is_refused(text: str, why: str) -> None:
    with pytest.raises(InvalidSpec, match=why):
        load_yaml(text, "f.yml")


def test_anchors_aliases_and_merge_keys_within_bounds_still_work() -> None:
    source = parse_yaml("base: &base {a: 1}\nmerged: {<<: *base, b: 2}\nsmall: " + alias_bomb(1).split(": ", 1)[1])
    assert source.data["merged"] == {"a": 1, "b": 2}
    assert source.line_of(("merged", "b")) == 2
    node, data = load_yaml(alias_bomb(4), "f.yml")  # 9**4 = 6561 values: fine
    assert len(data["l3"]) == 9 and node is not None


def test_a_document_longer_than_the_limit_is_refused() -> None:
    from kiln.specs.yaml_source import MAX_YAML_BYTES

    with pytest.raises(InvalidSpec, match="characters of YAML; at most"):
        load_yaml("a: " + "x" * MAX_YAML_BYTES, "big.yml")
