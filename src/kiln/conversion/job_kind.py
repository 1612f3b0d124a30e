"""``type: model_conversion``: a tracked job that converts a registered model, proves parity and registers the
result. The model is loaded only in the job's sandboxed process (``python -m kiln.conversion.job``), never in
the workspace server. This module is the spec and the handler: it imports no conversion package."""

from __future__ import annotations

import shlex
from typing import Any, Literal

from pydantic import Field, model_validator

from kiln.conversion.report import DEFAULT_TOLERANCE
from kiln.specs.bounded import PathText
from kiln.specs.job import JobInput, JobOutput, Problem, ProcessJobSpec, made_by_kiln
from kiln.specs.model import MODEL_NAME_PATTERN
from kiln.specs.references import is_asset_reference, parse_asset_reference

JOB_TYPE = "model_conversion"
MODEL_INPUT, DATA_INPUT, MODEL_OUTPUT = "model", "data", "model"
MIN_OPSET, MAX_OPSET = 9, 30
ReferenceValues = dict[str, dict[str, str]]  # as kiln.jobs.handler names it (a spec module imports no engine)


class ModelConversionJobSpec(ProcessJobSpec):
    """Convert ``model`` (``kiln:NAME:VERSION``) to ONNX, prove parity within ``tolerance`` on its input example,
    rows drawn from its signature and the rows of ``data``, and register the result as a new version of ``name``."""

    type: Literal["model_conversion"] = "model_conversion"
    model: PathText = Field(description="the registered model version to convert: kiln:NAME:VERSION (or azureml:)")
    to: Literal["onnx"] = "onnx"
    tolerance: float = Field(
        DEFAULT_TOLERANCE, gt=0, le=1, description="the largest |source - converted| accepted on any score"
    )
    opset: int | None = Field(None, ge=MIN_OPSET, le=MAX_OPSET, description="ONNX opset (default: the converter's)")
    data: PathText | None = Field(None, description="a data asset whose rows join the parity proof: kiln:NAME:VERSION")
    data_type: Literal["uri_file", "uri_folder", "mltable"] = Field("uri_file", description="the data asset's type")
    register_as: str | None = Field(
        None, pattern=MODEL_NAME_PATTERN, description="register the result as this model (default: NAME-onnx)"
    )

    @model_validator(mode="before")
    @classmethod
    def _inputs_and_outputs_come_from_the_fields(cls, data: Any) -> Any:
        """``inputs``/``outputs`` are kiln's, made from ``model``, ``data`` and ``name`` (a stored spec has them)."""
        if not isinstance(data, dict) or not isinstance(data.get("model"), str):
            return data
        data = dict(data)
        inputs: dict[str, Any] = {MODEL_INPUT: {"type": "mlflow_model", "path": data["model"]}}
        if data.get("data"):
            inputs[DATA_INPUT] = {"type": data.get("data_type") or "uri_file", "path": data["data"], "mode": "download"}
        given = data.get("inputs")
        if given and made_by_kiln(given, inputs, JobInput) is False:
            raise ValueError("inputs: a model_conversion job's inputs are its 'model' and 'data'; leave 'inputs' out")
        data["inputs"] = inputs
        target = data.get("register_as") or _default_name(data["model"])
        outputs = {MODEL_OUTPUT: {"type": "mlflow_model", "name": target}}
        given_outputs = data.get("outputs")
        if given_outputs and made_by_kiln(given_outputs, outputs, JobOutput) is False:
            raise ValueError("outputs: a model_conversion job's output is the converted model; leave 'outputs' out")
        data["outputs"] = outputs
        return data

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        try:
            reference = parse_asset_reference(self.model, "model")
            if not is_asset_reference(self.model) or reference.version is None:
                found.append((("model",), f"{self.model!r}: name an exact registered version, kiln:NAME:VERSION"))
        except Exception as exc:  # InvalidSpec, worded for the field
            found.append((("model",), str(getattr(exc, "message", exc))))
        if self.data is not None and not is_asset_reference(self.data):
            found.append(
                (("data",), f"{self.data!r}: name a registered data asset, kiln:NAME:VERSION or kiln:NAME@latest")
            )
        return found

    @property
    def source_label(self) -> str:
        """``NAME:VERSION`` of the source."""
        reference = parse_asset_reference(self.model, "model")
        return f"{reference.name}:{reference.version or reference.label}"

    @property
    def target_name(self) -> str:
        output = self.outputs[MODEL_OUTPUT]
        return output.name if isinstance(output, JobOutput) and output.name else _default_name(self.model)


def _default_name(model: str) -> str:
    try:
        return f"{parse_asset_reference(model, 'model').name}-onnx"
    except Exception:
        return "converted-onnx"


class ModelConversionHandler:
    def command_line(self, spec: ModelConversionJobSpec, values: ReferenceValues) -> str:
        words = [
            "python", "-m", "kiln.conversion.job", "--model", values["inputs"][MODEL_INPUT],
            "--output", values["outputs"][MODEL_OUTPUT], "--source", spec.source_label,
            "--tolerance", repr(spec.tolerance),
        ]  # fmt: skip
        if spec.opset is not None:
            words += ["--opset", str(spec.opset)]
        if DATA_INPUT in values["inputs"]:
            words += ["--data", values["inputs"][DATA_INPUT]]
        return shlex.join(words)

    def summary(self, spec: ModelConversionJobSpec) -> str:
        return f"convert {spec.source_label} to {spec.to} as {spec.target_name} (tolerance {spec.tolerance:g})"
