"""Job specs: Azure ML CLI v2 field names, used as YAML schema, REST body and SDK argument.

``JobSpecBase`` holds the fields every job type shares, ``ProcessJobSpec`` those of a job
that runs a process in an environment (what the job engine runs), and ``CommandJobSpec``
is the built-in ``type: command``. Other kinds subclass one of them and are registered in
:mod:`kiln.specs.job_kinds`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kiln.specs.bounded import (
    MAX_GPU_COUNT,
    MAX_INSTANCE_COUNT,
    MAX_JOB_IO,
    MAX_JOB_TIMEOUT_SECONDS,
    MAX_LITERAL_INPUT_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PORT,
    MAX_PROCESSES_PER_INSTANCE,
    Command,
    EnvironmentVariables,
    Name,
    PathText,
    ShortText,
    StrictModel,
    Tags,
    Text,
    check_text,
)
from kiln.specs.environment import EnvironmentSpec
from kiln.specs.references import is_asset_reference
from kiln.specs.remote_paths import is_remote_path

JOB_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$"
REFERENCE = re.compile(r"\$\{\{\s*([A-Za-z_][\w]*)\.([A-Za-z0-9_.-]+)\s*\}\}")
UPLOAD_PREFIX = "upload:"
AZUREML_PREFIX = "azureml:"
COMPUTE_PREFIXES = (AZUREML_PREFIX, "kiln:")
JOB_OUTPUT_PREFIXES = ("azureml://jobs/", "kiln://jobs/")  # a job's kept output: azureml://jobs/JOB/outputs/NAME

Scalar = str | int | float | bool
Problem = tuple[tuple[str, ...], str]  # a field's path and what is wrong with it
PATH_INPUT_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model")
MODEL_TYPES = ("mlflow_model", "custom_model")
LITERAL_INPUT_TYPES = ("string", "integer", "number", "boolean")


class JobInput(StrictModel):
    type: Literal[
        "uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "string", "integer", "number", "boolean"
    ] = "uri_folder"
    path: PathText | None = None
    default: Scalar | None = None
    mode: Literal["ro_mount", "download", "direct"] | None = None
    description: Text | None = None
    optional: bool = False

    @field_validator("default")
    @classmethod
    def _default_bounded(cls, value: Scalar | None) -> Scalar | None:
        check_text("default", value, MAX_LITERAL_INPUT_LENGTH)
        return value

    def is_path(self) -> bool:
        return self.type in PATH_INPUT_TYPES


class JobOutput(StrictModel):
    type: Literal["uri_folder", "uri_file", "mlflow_model", "custom_model"] = "uri_folder"
    mode: Literal["rw_mount", "upload", "direct"] | None = None
    description: Text | None = None
    name: Name | None = Field(
        None, description="For model outputs: register a new version of this model when the job completes."
    )
    version: Name | None = None

    def is_model(self) -> bool:
        return self.type in MODEL_TYPES

    def is_file(self) -> bool:
        return self.type == "uri_file"


class JobPrivacy(StrictModel):
    """What a job that reads private data versions declares it spends of each one's budget (kiln privacy): charged
    at submit; a DP training script keeps its achieved epsilon within it."""

    epsilon: float = Field(gt=0, le=100)
    delta: float = Field(0.0, ge=0, lt=1)


class JobLimits(StrictModel):
    timeout: int | None = Field(
        None,
        gt=0,
        le=MAX_JOB_TIMEOUT_SECONDS,
        description="Seconds (at most 90 days); the job's whole process tree is ended after it.",
    )


DISTRIBUTION_FIELDS = {
    "pytorch": ("process_count_per_instance",),
    "mpi": ("process_count_per_instance",),
    "tensorflow": ("worker_count", "parameter_server_count"),
    "ray": (
        "port", "address", "include_dashboard", "dashboard_port", "head_node_additional_args",
        "worker_node_additional_args",
    ),
}  # fmt: skip


class JobDistribution(StrictModel):
    """Azure's ``distribution`` block. Every type's fields parse; the compute target says which types it runs."""

    type: Literal["pytorch", "mpi", "tensorflow", "ray"]
    process_count_per_instance: int | None = Field(
        None, ge=1, le=MAX_PROCESSES_PER_INSTANCE, description="pytorch, mpi: processes per machine"
    )
    worker_count: int | None = Field(None, ge=1, le=MAX_PROCESSES_PER_INSTANCE, description="tensorflow")
    parameter_server_count: int | None = Field(None, ge=0, le=MAX_PROCESSES_PER_INSTANCE, description="tensorflow")
    port: int | None = Field(None, ge=1, le=MAX_PORT)
    address: PathText | None = None
    include_dashboard: bool | None = None
    dashboard_port: int | None = Field(None, ge=1, le=MAX_PORT)
    head_node_additional_args: Text | None = None
    worker_node_additional_args: Text | None = None

    @model_validator(mode="after")
    def _fields_belong_to_the_type(self) -> JobDistribution:
        own = DISTRIBUTION_FIELDS[self.type]
        foreign = sorted(self.model_fields_set - {"type", *own})
        if foreign:
            raise ValueError(
                f"{', '.join(foreign)} is not a field of distribution type '{self.type}' (its fields: {', '.join(own)})"
            )
        return self


class JobResources(StrictModel):
    instance_count: int = Field(1, ge=1, le=MAX_INSTANCE_COUNT, description="Machines; local compute is one.")
    gpu_count: int = Field(
        0, ge=0, le=MAX_GPU_COUNT, description="GPUs the job holds alone, handed out via CUDA_VISIBLE_DEVICES."
    )
    instance_type: Name | None = Field(None, description="Accepted for Azure job files; local compute ignores it.")
    shm_size: Name | None = Field(None, description="Accepted for Azure job files; local compute ignores it.")
    docker_args: Text | None = Field(None, description="Accepted for Azure job files; local compute ignores it.")
    properties: dict[str, Any] = Field(default_factory=dict)


class JobSpecBase(StrictModel):
    """The fields every job type shares (Azure ML's common job fields); each kind adds its own.

    A kind's class fixes ``type`` to its ``Literal`` value (the registry in
    :mod:`kiln.specs.job_kinds` maps the value to the class)."""

    schema_: PathText | None = Field(None, alias="$schema")
    type: str
    name: str | None = Field(None, pattern=JOB_NAME_PATTERN)
    display_name: ShortText | None = None
    experiment_name: ShortText | None = None
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)
    compute: Name = "local"
    inputs: dict[str, JobInput | Scalar] = Field(default_factory=dict)
    outputs: dict[str, JobOutput | None] = Field(default_factory=dict)
    limits: JobLimits | None = None
    privacy: JobPrivacy | None = Field(
        None, description="Needed when an input is a private data version: what the job spends of its budget."
    )

    @field_validator("inputs", "outputs")
    @classmethod
    def _names_are_identifiers(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_JOB_IO:
            raise ValueError(f"{len(value)} entries; at most {MAX_JOB_IO} are accepted")
        for key, item in value.items():
            if len(key) > MAX_NAME_LENGTH or not re.fullmatch(r"[A-Za-z_][\w-]*", key):
                raise ValueError(
                    f"'{key[:40]}' is not a valid name (letters, digits, '_' and '-', at most {MAX_NAME_LENGTH})"
                )
            check_text(key, item, MAX_LITERAL_INPUT_LENGTH)
        return value

    @property
    def compute_name(self) -> str:
        for prefix in COMPUTE_PREFIXES:
            if self.compute.startswith(prefix):
                return self.compute[len(prefix) :]
        return self.compute

    @property
    def timeout_seconds(self) -> int | None:
        """``limits.timeout``: seconds the job may run before it is stopped (None: no limit)."""
        return self.limits.timeout if self.limits else None

    def path_inputs(self) -> dict[str, JobInput]:
        return {k: v for k, v in self.inputs.items() if isinstance(v, JobInput) and v.is_path()}

    def folder_outputs(self) -> list[str]:
        """The named outputs that are folders (there, empty, when the job's command starts)."""
        return [name for name, output in self.outputs.items() if not (output and output.is_file())]

    def problems(self) -> list[Problem]:
        """What is wrong with the spec beyond its fields' own checks (each with its field path).

        Checked where the spec is read (the SDK names the YAML line) and again at submit."""
        return []

    def with_local_files(self, base_dir: Path) -> JobSpecBase:
        """The spec with the files it names beside its YAML (``base_dir``) read in, on the submitting machine (a
        pipeline's ``component: file:./x.yml``); most kinds name none."""
        return self


class ProcessJobSpec(JobSpecBase):
    """A job that runs a process (or the ranks of a distributed one) in an environment on a compute target.

    The job engine runs every kind built on this class: it puts ``code`` and the inputs in
    place, prepares ``environment``, and asks the kind's handler for the command line."""

    code: PathText | None = None
    environment: PathText | EnvironmentSpec | None = Field(
        None, description="kiln:NAME:VERSION (azureml: too, or NAME@latest), or an inline environment with a conda_file"
    )
    environment_variables: EnvironmentVariables = Field(default_factory=dict)
    distribution: JobDistribution | None = None
    resources: JobResources | None = None

    @property
    def rank_count(self) -> int | None:
        """Processes of a distributed job (its ranks); None when the command runs as one plain process
        (also for type ray: one driver, whose Ray instance starts the workers)."""
        if self.distribution is None or self.distribution.type == "ray":
            return None
        return self.distribution.process_count_per_instance or 1

    @property
    def gpu_count(self) -> int:
        return self.resources.gpu_count if self.resources else 0

    def local_paths(self) -> dict[tuple[str, ...], str]:
        """Fields that name files on the submitting machine (to be uploaded at submit)."""
        paths: dict[tuple[str, ...], str] = {}
        if self.code:
            paths[("code",)] = self.code
        for name, item in self.path_inputs().items():
            if item.path and not is_asset_reference(item.path) and not is_remote_path(item.path):
                if item.path.startswith(JOB_OUTPUT_PREFIXES):  # another job's output, read in the workspace
                    continue
                paths[("inputs", name, "path")] = item.path
        return paths


class CommandJobSpec(ProcessJobSpec):
    """Azure ML's command job: a shell command, with ``${{inputs.x}}`` / ``${{outputs.y}}`` references."""

    type: Literal["command"] = "command"
    command: Command

    def problems(self) -> list[Problem]:
        return self.reference_errors()

    def reference_errors(self) -> list[Problem]:
        """``${{...}}`` references in ``command`` that name nothing defined."""
        problems: list[Problem] = []
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


def made_by_kiln(given: Any, made: dict[str, Any], kind: type[JobInput] | type[JobOutput]) -> bool:
    """Whether ``given`` (a stored spec's inputs or outputs) is what a job kind's own fields make (``made``)."""
    if not isinstance(given, dict) or set(given) != set(made):
        return False
    try:
        return all(kind.model_validate(given[key]) == kind.model_validate(made[key]) for key in made)
    except Exception:  # a malformed entry is not what kiln made
        return False


def literal_input_value(item: JobInput | Scalar) -> Scalar | None:
    if isinstance(item, JobInput):
        return item.default
    return item


def render_command(command: str, values: dict[str, dict[str, str]]) -> str:
    """Replace ``${{inputs.x}}`` / ``${{outputs.y}}`` with the values the runner chose."""

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)][match.group(2)]

    return REFERENCE.sub(substitute, command)
