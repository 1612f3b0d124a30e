"""Job YAML: Azure ML field names, clear errors naming field and line, --set overrides."""

from __future__ import annotations

import pytest

from kiln.errors import InvalidSpec
from kiln.specs.job import CommandJobSpec, render_command
from kiln.specs.yaml_source import apply_overrides, parse_yaml, validate_model

VALID = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
name: train-1
experiment_name: demo
code: ./src
command: python train.py --lr ${{inputs.lr}} --data ${{inputs.data}} --out ${{outputs.model}}
inputs:
  lr: 0.1
  data:
    type: uri_folder
    path: ./data
outputs:
  model:
    type: uri_folder
environment_variables:
  SEED: 3
compute: azureml:local
limits:
  timeout: 60
"""


def test_a_valid_azure_style_job_parses() -> None:
    spec = validate_model(CommandJobSpec, parse_yaml(VALID))
    assert spec.name == "train-1"
    assert spec.compute_name == "local"
    assert spec.limits and spec.limits.timeout == 60
    assert spec.local_paths() == {("code",): "./src", ("inputs", "data", "path"): "./data"}
    assert spec.reference_errors() == []


def test_unknown_field_names_the_field_and_its_line() -> None:
    text = VALID.replace("compute: azureml:local", "compute: azureml:local\ncomand: oops")
    with pytest.raises(InvalidSpec) as error:
        validate_model(CommandJobSpec, parse_yaml(text))
    assert "unknown field 'comand'" in error.value.message
    assert "line 18" in error.value.message


def test_unknown_nested_field_names_its_path_and_line() -> None:
    text = VALID.replace("    type: uri_folder\n    path: ./data", "    type: uri_folder\n    pth: ./data")
    with pytest.raises(InvalidSpec) as error:
        validate_model(CommandJobSpec, parse_yaml(text))
    assert "inputs.data.pth" in error.value.message
    assert "line 11" in error.value.message
    assert "valid number" not in error.value.message


def test_malformed_yaml_names_line_and_column() -> None:
    with pytest.raises(InvalidSpec) as error:
        parse_yaml("type: command\ncommand: [unclosed\ninputs: {}\n")
    assert "malformed YAML" in error.value.message
    assert "line" in error.value.message


def test_reference_to_an_undefined_input_is_reported() -> None:
    spec = validate_model(CommandJobSpec, parse_yaml(VALID.replace("${{inputs.lr}}", "${{inputs.learning_rate}}")))
    problems = spec.reference_errors()
    assert len(problems) == 1
    loc, message = problems[0]
    assert loc == ("command",)
    assert "learning_rate" in message and "defined: data, lr" in message


def test_missing_command_is_required() -> None:
    with pytest.raises(InvalidSpec) as error:
        validate_model(CommandJobSpec, parse_yaml("type: command\n"))
    assert "required field 'command' is missing" in error.value.message


def test_wrong_type_names_the_field() -> None:
    with pytest.raises(InvalidSpec) as error:
        validate_model(CommandJobSpec, parse_yaml(VALID.replace("timeout: 60", "timeout: soon")))
    assert "limits.timeout" in error.value.message
    assert "line 19" in error.value.message


def test_set_overrides_nested_fields_with_yaml_typed_values() -> None:
    data = parse_yaml(VALID).data
    apply_overrides(data, ["limits.timeout=5", "inputs.lr=0.5", "display_name=new name", "tags.team=ml"])
    spec = CommandJobSpec.model_validate(data)
    assert spec.limits and spec.limits.timeout == 5
    assert spec.inputs["lr"] == 0.5
    assert spec.display_name == "new name"
    assert spec.tags == {"team": "ml"}


def test_set_without_equals_is_an_error() -> None:
    with pytest.raises(InvalidSpec, match="expected KEY=VALUE"):
        apply_overrides({}, ["limits.timeout"])


def test_render_command_substitutes_inputs_and_outputs() -> None:
    command = render_command("run ${{inputs.a}} > ${{ outputs.b }}", {"inputs": {"a": "1"}, "outputs": {"b": "/o"}})
    assert command == "run 1 > /o"


def test_bad_job_name_is_rejected() -> None:
    with pytest.raises(InvalidSpec, match="name"):
        validate_model(CommandJobSpec, parse_yaml(VALID.replace("name: train-1", "name: has space")))
