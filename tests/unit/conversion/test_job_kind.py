"""The ``model_conversion`` job kind: its inputs and outputs made from its fields (and stable when a stored
spec is read back), what it refuses, and the command its handler gives the job's process."""

from __future__ import annotations

import shlex

import pytest

from kiln.capabilities import load_capabilities
from kiln.conversion.job_kind import ModelConversionHandler, ModelConversionJobSpec
from kiln.errors import InvalidSpec, ParityFailed
from kiln.specs.job_kinds import job_kind, parse_job_spec


@pytest.fixture(autouse=True)
def _built_in_capabilities() -> None:
    """The built-in capabilities, as the CLI and the server load them (each unit test starts without)."""
    load_capabilities()


def test_the_conversion_capability_brings_its_job_kind() -> None:
    (conversion,) = [c for c in load_capabilities() if c.name == "conversion"]
    assert conversion.extra == "onnx" and job_kind("model_conversion").spec.endswith("ModelConversionJobSpec")


def test_inputs_and_outputs_come_from_the_fields_and_survive_a_round_trip() -> None:
    spec = parse_job_spec({"type": "model_conversion", "model": "kiln:iris:3", "data": "kiln:rows@latest"})
    assert isinstance(spec, ModelConversionJobSpec) and spec.problems() == []
    assert (spec.inputs["model"].type, spec.inputs["model"].path) == ("mlflow_model", "kiln:iris:3")
    assert (spec.inputs["data"].type, spec.inputs["data"].path) == ("uri_file", "kiln:rows@latest")
    assert (spec.outputs["model"].type, spec.outputs["model"].name) == ("mlflow_model", "iris-onnx")
    stored = spec.model_dump(mode="json", by_alias=True)
    assert parse_job_spec(stored) == spec  # what the store keeps reads back the same
    named = parse_job_spec({"type": "model_conversion", "model": "azureml:iris:3", "register_as": "flower"})
    assert named.outputs["model"].name == "flower" and named.target_name == "flower"


def test_it_refuses_inputs_of_its_own_a_label_instead_of_a_version_and_a_data_path() -> None:
    with pytest.raises(InvalidSpec, match="inputs: a model_conversion job's inputs are its 'model' and 'data'"):
        parse_job_spec({"type": "model_conversion", "model": "kiln:iris:3", "inputs": {"x": {"path": "/etc"}}})
    with pytest.raises(InvalidSpec, match="tolerance"):
        parse_job_spec({"type": "model_conversion", "model": "kiln:iris:3", "tolerance": 2})
    latest = parse_job_spec({"type": "model_conversion", "model": "kiln:iris@latest"})
    assert latest.problems() == [
        (("model",), "'kiln:iris@latest': name an exact registered version, kiln:NAME:VERSION")
    ]
    local = parse_job_spec({"type": "model_conversion", "model": "kiln:iris:3", "data": "../../etc/passwd"})
    assert [field for field, _ in local.problems()] == [("data",)]


def test_the_handler_runs_the_conversion_module_with_quoted_paths() -> None:
    spec = parse_job_spec({"type": "model_conversion", "model": "kiln:iris:3", "opset": 17, "data": "kiln:rows:1"})
    values = {
        "inputs": {"model": "/job/in put/model", "data": "/job/inputs/data/rows.csv"},
        "outputs": {"model": "/job/out"},
    }
    words = shlex.split(ModelConversionHandler().command_line(spec, values))
    assert words[:3] == ["python", "-m", "kiln.conversion.job"]
    assert words[words.index("--model") + 1] == "/job/in put/model" and words[words.index("--source") + 1] == "iris:3"
    assert words[words.index("--opset") + 1] == "17" and words[words.index("--data") + 1] == "/job/inputs/data/rows.csv"
    assert ModelConversionHandler().summary(spec) == "convert iris:3 to onnx as iris-onnx (tolerance 0.0001)"


def test_parity_failed_rebuilt_from_a_message_keeps_it() -> None:
    assert ParityFailed("parity failed: 3 rows").message == "parity failed: 3 rows"
    assert ParityFailed.exit_code == 8 and ParityFailed.http_status == 422
