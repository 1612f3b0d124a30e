"""Data asset YAML: Azure ML field names, defaults, and errors that name the field and line."""

from __future__ import annotations

import pytest

from kiln.errors import InvalidSpec
from kiln.specs.data import DataSpec
from kiln.specs.job import CommandJobSpec
from kiln.specs.yaml_source import parse_yaml, validate_model


def test_an_azure_data_yaml_parses_with_defaults() -> None:
    spec = validate_model(
        DataSpec,
        parse_yaml(
            "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
            "name: iris\nversion: 3\npath: ./iris\ndescription: flowers\ntags: {source: sklearn}\n"
        ),
    )
    assert (spec.name, spec.version, spec.type, spec.path) == ("iris", "3", "uri_folder", "./iris")
    assert spec.tags == {"source": "sklearn"}
    assert validate_model(DataSpec, parse_yaml("name: iris\npath: x.csv\ntype: uri_file\n")).version is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: iris\npath: ./d\nformat: csv\n", "line 3: unknown field 'format'"),
        ("name: iris\npath: ./d\ntype: table\n", "line 3: field 'type'"),
        ("name: iris\n", "required field 'path' is missing"),
        ("name: iris\npath: ./d\nversion: latest\n", "'latest' is a label"),
        ("name: 'a b'\npath: ./d\n", "line 1: field 'name'"),
    ],
)
def test_bad_data_yaml_names_the_field_and_line(text: str, message: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        validate_model(DataSpec, parse_yaml(text))
    assert message in caught.value.message


def test_asset_references_in_job_inputs_are_not_local_paths() -> None:
    spec = CommandJobSpec.model_validate(
        {
            "command": "echo",
            "inputs": {
                "a": {"type": "uri_folder", "path": "kiln:iris@latest"},
                "b": {"type": "uri_file", "path": "azureml:iris-file:2"},
                "c": {"type": "uri_folder", "path": "./local"},
            },
        }
    )
    assert spec.local_paths() == {("inputs", "c", "path"): "./local"}
