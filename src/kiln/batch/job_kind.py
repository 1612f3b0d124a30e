"""``type: batch_scoring``: one invocation of a batch deployment, a tracked job of its own kind that the engine runs
as any process job (local compute or a Ray cluster). Its process is ``python -m kiln.batch.entry``: the model and
the files are loaded there, never in the workspace server. This module is the spec and the handler."""

from __future__ import annotations

import shlex
from typing import Any, Literal

from pydantic import Field, model_validator

from kiln.batch.spec import (
    DEFAULT_OUTPUT_FILE,
    MAX_CONCURRENCY,
    MAX_INSTANCES,
    MAX_MINI_BATCH_SIZE,
    MAX_RETRIES,
    MAX_TIMEOUT_SECONDS,
    InputType,
)
from kiln.specs.bounded import Name, PathText
from kiln.specs.job import JobInput, JobOutput, Problem, ProcessJobSpec, made_by_kiln
from kiln.specs.references import is_asset_reference
from kiln.specs.remote_paths import is_remote_path

JOB_TYPE = "batch_scoring"
MODEL_INPUT, DATA_INPUT, PREDICTIONS_OUTPUT = "model", "data", "predictions"
ReferenceValues = dict[str, dict[str, str]]


class BatchScoringJobSpec(ProcessJobSpec):
    """Score every file of ``input`` with ``model`` in mini-batches of ``mini_batch_size`` files; the predictions
    (or a summary) land in the output ``predictions``. ``code`` + ``scoring_script``: the deployment's script."""

    type: Literal["batch_scoring"] = "batch_scoring"
    endpoint_name: Name | None = None
    deployment_name: Name | None = None
    model: PathText = Field(description="kiln:NAME:VERSION or an upload (upload:…)")
    model_type: Literal["mlflow_model", "custom_model"] = "mlflow_model"
    input: PathText = Field(description="a data asset, an upload or a datastore path")
    input_type: InputType = "uri_folder"
    scoring_script: PathText | None = Field(None, description="relative to code; none: the MLflow model's predict")
    mini_batch_size: int = Field(10, ge=1, le=MAX_MINI_BATCH_SIZE)
    max_concurrency_per_instance: int = Field(1, ge=1, le=MAX_CONCURRENCY)
    instance_count: int = Field(1, ge=1, le=MAX_INSTANCES)
    max_retries: int = Field(3, ge=0, le=MAX_RETRIES)
    timeout: int = Field(30, ge=1, le=MAX_TIMEOUT_SECONDS)
    error_threshold: int = Field(-1, ge=-1)
    logging_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    output_action: Literal["append_row", "summary_only"] = "append_row"
    output_file_name: str = Field(DEFAULT_OUTPUT_FILE, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

    @model_validator(mode="before")
    @classmethod
    def _inputs_and_outputs_come_from_the_fields(cls, data: Any) -> Any:
        """``inputs``/``outputs`` are kiln's, made from ``model`` and ``input`` (a stored spec has them already)."""
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("model"), str)
            or not isinstance(data.get("input"), str)
        ):
            return data
        data = dict(data)
        inputs = {
            MODEL_INPUT: {"type": data.get("model_type") or "mlflow_model", "path": data["model"]},
            DATA_INPUT: {"type": data.get("input_type") or "uri_folder", "path": data["input"], "mode": "download"},
        }
        given = data.get("inputs")
        if given and not made_by_kiln(given, inputs, JobInput):
            raise ValueError("inputs: a batch_scoring job's inputs are its 'model' and 'input'; leave 'inputs' out")
        data["inputs"] = inputs
        outputs = {PREDICTIONS_OUTPUT: {"type": "uri_folder"}}
        given_outputs = data.get("outputs")
        if given_outputs and not made_by_kiln(given_outputs, outputs, JobOutput):
            raise ValueError("outputs: a batch_scoring job's output is 'predictions'; leave 'outputs' out")
        data["outputs"] = outputs
        return data

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.scoring_script is not None and not self.code:
            found.append((("scoring_script",), "a scoring script needs its code folder: give code"))
        if self.scoring_script is None and self.model_type != "mlflow_model":
            found.append((("model",), "a custom_model needs a scoring script (code_configuration) to be scored"))
        for field, value in (("model", self.model), ("input", self.input)):
            if not (is_asset_reference(value) or value.startswith("upload:") or is_remote_path(value)):
                if field == "model" or not _is_relative_inside(value):
                    found.append(((field,), f"{value!r}: name a registered asset (kiln:NAME:VERSION) or an upload"))
        return found

    def local_paths(self) -> dict[tuple[str, ...], str]:
        """``code`` and a local ``input`` (a folder or a file on the submitting machine), uploaded at submit."""
        paths: dict[tuple[str, ...], str] = {}
        if self.code and not self.code.startswith("upload:"):
            paths[("code",)] = self.code
        if not (is_asset_reference(self.input) or self.input.startswith("upload:") or is_remote_path(self.input)):
            paths[("input",)] = self.input
        return paths


def _is_relative_inside(path: str) -> bool:
    return not path.startswith(("/", "~")) and ".." not in path.replace("\\", "/").split("/")


class BatchScoringHandler:
    # on a Ray cluster the data is read file by file from signed URLs, never copied (kiln.jobs.input_manifest)
    url_inputs = (DATA_INPUT,)

    def command_line(self, spec: BatchScoringJobSpec, values: ReferenceValues) -> str:
        manifest = values.get("manifests", {}).get(DATA_INPUT)
        source = ["--input-manifest", manifest] if manifest else ["--input", values["inputs"][DATA_INPUT]]
        words = [
            "python", "-m", "kiln.batch.entry", "--model", values["inputs"][MODEL_INPUT], *source,
            "--output", values["outputs"][PREDICTIONS_OUTPUT], "--output-file", spec.output_file_name,
            "--output-action", spec.output_action, "--mini-batch-size", str(spec.mini_batch_size),
            "--workers", str(spec.max_concurrency_per_instance), "--instances", str(spec.instance_count),
            "--max-retries", str(spec.max_retries), "--timeout", str(spec.timeout),
            "--error-threshold", str(spec.error_threshold), "--logging-level", spec.logging_level,
        ]  # fmt: skip
        if spec.scoring_script:
            words += ["--scoring-script", spec.scoring_script]
        return shlex.join(words)

    def summary(self, spec: BatchScoringJobSpec) -> str:
        what = f"{spec.endpoint_name}/{spec.deployment_name}" if spec.endpoint_name else spec.model
        return f"batch scoring {spec.input} with {what} ({spec.output_action})"
