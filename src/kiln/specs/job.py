"""The command job: Azure ML CLI v2 field names, used as YAML schema, REST body and SDK argument."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kiln.specs.environment import EnvironmentSpec
from kiln.specs.references import is_asset_reference

JOB_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$"
REFERENCE = re.compile(r"\$\{\{\s*([A-Za-z_][\w]*)\.([A-Za-z0-9_.-]+)\s*\}\}")
UPLOAD_PREFIX = "upload:"
COMPUTE_PREFIXES = ("azureml:", "kiln:")

Scalar = str | int | float | bool
PATH_INPUT_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model")
MODEL_TYPES = ("mlflow_model", "custom_model")
LITERAL_INPUT_TYPES = ("string", "integer", "number", "boolean")


class StrictModel(BaseModel):
    """Rejects unknown fields, so a misspelt field is an error instead of silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class JobInput(StrictModel):
    type: Literal[
        "uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "string", "integer", "number", "boolean"
    ] = "uri_folder"
    path: str | None = None
    default: Scalar | None = None
    mode: Literal["ro_mount", "download", "direct"] | None = None
    description: str | None = None
    optional: bool = False

    def is_path(self) -> bool:
        return self.type in PATH_INPUT_TYPES


class JobOutput(StrictModel):
    type: Literal["uri_folder", "uri_file", "mlflow_model", "custom_model"] = "uri_folder"
    mode: Literal["rw_mount", "upload", "direct"] | None = None
    description: str | None = None
    name: str | None = Field(
        None, description="For model outputs: register a new version of this model when the job completes."
    )
    version: str | None = None

    def is_model(self) -> bool:
        return self.type in MODEL_TYPES

    def is_file(self) -> bool:
        return self.type == "uri_file"


class JobLimits(StrictModel):
    timeout: int | None = Field(None, gt=0, description="Seconds; the job's whole process tree is ended after it.")


class CommandJobSpec(StrictModel):
    schema_: str | None = Field(None, alias="$schema")
    type: Literal["command"] = "command"
    name: str | None = Field(None, pattern=JOB_NAME_PATTERN)
    display_name: str | None = None
    experiment_name: str | None = None
    description: str | None = None
    tags: dict[str, Scalar] = Field(default_factory=dict)
    code: str | None = None
    command: str = Field(min_length=1)
    inputs: dict[str, JobInput | Scalar] = Field(default_factory=dict)
    outputs: dict[str, JobOutput | None] = Field(default_factory=dict)
    environment: str | EnvironmentSpec | None = Field(
        None, description="kiln:NAME:VERSION (azureml: too, or NAME@latest), or an inline environment with a conda_file"
    )
    environment_variables: dict[str, Scalar] = Field(default_factory=dict)
    compute: str = "local"
    limits: JobLimits | None = None

    @field_validator("inputs", "outputs")
    @classmethod
    def _names_are_identifiers(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z_][\w-]*", key):
                raise ValueError(f"'{key}' is not a valid name (letters, digits, '_' and '-')")
        return value

    @property
    def compute_name(self) -> str:
        for prefix in COMPUTE_PREFIXES:
            if self.compute.startswith(prefix):
                return self.compute[len(prefix) :]
        return self.compute

    def path_inputs(self) -> dict[str, JobInput]:
        return {k: v for k, v in self.inputs.items() if isinstance(v, JobInput) and v.is_path()}

    def reference_errors(self) -> list[tuple[tuple[str, ...], str]]:
        """``${{...}}`` references in ``command`` that name nothing defined."""
        problems: list[tuple[tuple[str, ...], str]] = []
        for match in REFERENCE.finditer(self.command):
            kind, name = match.group(1), match.group(2)
            if kind not in ("inputs", "outputs"):
                problems.append(
                    (
                        ("command",),
                        f"'{match.group(0)}': only ${{{{inputs.NAME}}}} and ${{{{outputs.NAME}}}} can be referenced",
                    )
                )
                continue
            defined = self.inputs if kind == "inputs" else self.outputs
            if name not in defined:
                choices = ", ".join(sorted(defined)) or "none"
                problems.append(
                    (
                        (("command",)),
                        f"'{match.group(0)}' refers to {kind[:-1]} '{name}', which is not defined under '{kind}' (defined: {choices})",
                    )
                )
        return problems

    def local_paths(self) -> dict[tuple[str, ...], str]:
        """Fields that name files on the submitting machine (to be uploaded at submit)."""
        paths: dict[tuple[str, ...], str] = {}
        if self.code:
            paths[("code",)] = self.code
        for name, item in self.path_inputs().items():
            if item.path and not is_asset_reference(item.path):
                paths[("inputs", name, "path")] = item.path
        return paths


def literal_input_value(item: JobInput | Scalar) -> Scalar | None:
    if isinstance(item, JobInput):
        return item.default
    return item


def render_command(command: str, values: dict[str, dict[str, str]]) -> str:
    """Replace ``${{inputs.x}}`` / ``${{outputs.y}}`` with the values the runner chose."""

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)][match.group(2)]

    return REFERENCE.sub(substitute, command)
