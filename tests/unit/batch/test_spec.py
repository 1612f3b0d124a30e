"""Batch endpoint and deployment YAML: Azure's fields read, mistakes refused with the field named; the job kind's
inputs made from its fields; the pool's part files and the entry's joining of them (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kiln.batch.entry import count_rows, input_files, join_parts, mini_batches
from kiln.batch.job_kind import BatchScoringHandler, BatchScoringJobSpec
from kiln.batch.pool import Outcome, part_path
from kiln.batch.scorer import as_frame
from kiln.batch.spec import BatchDeploymentSpec, BatchEndpointSpec


def test_an_azure_batch_endpoint_reads_and_a_key_auth_mode_is_refused() -> None:
    spec = BatchEndpointSpec.model_validate(
        {"$schema": "https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json", "name": "heart",
         "auth_mode": "AADToken"}
    )  # fmt: skip
    assert spec.auth_mode == "aad_token" and spec.defaults.deployment_name is None
    with pytest.raises(ValidationError, match="batch endpoints are invoked with a workspace user's token"):
        BatchEndpointSpec.model_validate({"name": "heart", "auth_mode": "key"})


def test_a_deployment_reads_azures_fields_and_refuses_an_empty_mini_batch() -> None:
    spec = BatchDeploymentSpec.model_validate({
        "name": "classifier", "endpoint_name": "heart", "type": "model", "model": "azureml:heart:1",
        "code_configuration": {"code": "./score", "scoring_script": "score.py"},
        "resources": {"instance_count": 2}, "max_concurrency_per_instance": 3, "mini_batch_size": 5,
        "retry_settings": {"max_retries": 1, "timeout": 10}, "error_threshold": 4, "logging_level": "WARNING",
        "output_action": "summary_only", "output_file_name": "scores.csv",
    })  # fmt: skip
    assert spec.logging_level == "warning" and spec.resources.instance_count == 2
    with pytest.raises(ValidationError, match="mini_batch_size[\\s\\S]*at least one file"):
        BatchDeploymentSpec.model_validate(
            {"name": "x1", "endpoint_name": "heart", "model": "kiln:m:1", "mini_batch_size": 0}
        )
    with pytest.raises(ValidationError, match="output_action"):
        BatchDeploymentSpec.model_validate(
            {"name": "x1", "endpoint_name": "heart", "model": "kiln:m:1", "output_action": "x"}
        )


def test_the_job_kind_makes_its_inputs_and_command_from_its_fields() -> None:
    spec = BatchScoringJobSpec.model_validate(
        {"model": "kiln:heart:3", "input": "kiln:heart-data@latest", "code": "upload:abc", "scoring_script": "s.py",
         "mini_batch_size": 4, "max_concurrency_per_instance": 2}
    )  # fmt: skip
    assert spec.inputs["model"].path == "kiln:heart:3" and spec.inputs["data"].type == "uri_folder"  # type: ignore[union-attr]
    assert spec.problems() == []
    values = {"inputs": {"model": "/m", "data": "/d"}, "outputs": {"predictions": "/o"}}
    command = BatchScoringHandler().command_line(spec, values)
    assert command.startswith("python -m kiln.batch.entry --model /m --input /d --output /o")
    assert "--mini-batch-size 4 --workers 2" in command and command.endswith("--scoring-script s.py")
    with pytest.raises(ValidationError, match="leave 'inputs' out"):
        BatchScoringJobSpec.model_validate(
            {"model": "kiln:a:1", "input": "kiln:b:1", "inputs": {"x": {"path": "/etc"}}}
        )
    custom = BatchScoringJobSpec.model_validate({"model": "kiln:a:1", "input": "/etc", "model_type": "custom_model"})
    assert {loc for loc, _ in custom.problems()} == {("model",), ("input",)}


def test_files_are_cut_into_mini_batches_and_parts_joined_in_order(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    for name in ("b.csv", "a.csv", "sub/c.csv", ".hidden.csv", "MLTable"):
        (data / name).write_text("x\n1\n2\n")
    files = input_files(data)
    assert [f.relative_to(data).as_posix() for f in files] == ["a.csv", "b.csv", "sub/c.csv"]
    assert count_rows(files[0]) == 2
    batches = mini_batches(files, 2)
    assert [len(b.files) for b in batches] == [2, 1]
    parts = tmp_path / "parts"
    parts.mkdir()
    part_path(parts, 1).write_text("file,prediction\nc,1\n")
    part_path(parts, 0).write_text("file,prediction\na,0\nb,1\n")
    part_path(parts, 2).write_text("file,prediction\nstale,9\n")  # a mini-batch that failed in the end: left out
    written = join_parts(parts, Outcome(rows={0: 2, 1: 1}, failed={2: "x"}), tmp_path / "predictions.csv")
    assert written == 3 and (tmp_path / "predictions.csv").read_text() == "file,prediction\na,0\nb,1\nc,1\n"


def test_what_run_answers_becomes_a_frame() -> None:
    assert list(as_frame([1, 0]).columns) == ["prediction"]
    assert list(as_frame([{"file": "a", "p": 1}]).columns) == ["file", "p"]
    assert list(as_frame([[1, 2], [3, 4]]).columns) == ["prediction_0", "prediction_1"]
