"""Azure ML's command component: a reusable step (``type: command``) with typed ``inputs`` and ``outputs``, its
``code``, ``environment`` and ``command``; versioned in the workspace like data assets, or read from a file next to
the pipeline (``component: file:./train.yml``). Also how a step names one (``parse_component_reference``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kiln.errors import InvalidSpec
from kiln.specs.bounded import Command, EnvironmentVariables, Name, PathText, ShortText, StrictModel, Tags, Text
from kiln.specs.environment import EnvironmentSpec
from kiln.specs.job import LITERAL_INPUT_TYPES, PATH_INPUT_TYPES, JobInput, Problem, Scalar

FILE_PREFIX = "file:"
LATEST = "latest"
INPUT_TYPES = (*PATH_INPUT_TYPES, *LITERAL_INPUT_TYPES)
_REFERENCE = re.compile(
    r"^(?:azureml:|kiln:)(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,254})(?::(?P<version>[A-Za-z0-9_.-]{1,64})|@(?P<label>latest))?$"
)
OPTIONAL_BLOCK = re.compile(r"\$\[\[(?P<body>.*?)\]\]", re.DOTALL)  # Azure's $[[ --x ${{inputs.x}} ]]
INPUT_REFERENCE = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_.-]+)\s*\}\}")


class ComponentInput(StrictModel):
    type: Literal[
        "uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "string", "integer", "number", "boolean"
    ] = "uri_folder"
    default: Scalar | None = None
    optional: bool = False
    description: Text | None = None
    mode: Literal["ro_mount", "download", "direct"] | None = None
    min: float | None = None
    max: float | None = None
    enum: list[Scalar] | None = Field(None, max_length=100)

    def is_path(self) -> bool:
        return self.type in PATH_INPUT_TYPES


class ComponentOutput(StrictModel):
    type: Literal["uri_folder", "uri_file", "mlflow_model", "custom_model"] = "uri_folder"
    description: Text | None = None
    mode: Literal["rw_mount", "upload", "direct"] | None = None


class ComponentSpec(StrictModel):
    """Azure ML's command component YAML (``$schema`` …/commandComponent.schema.json)."""

    schema_: PathText | None = Field(None, alias="$schema")
    type: Literal["command"] = "command"
    name: Name
    version: Name | None = Field(None, description="default: the next version (1, 2, …)")
    display_name: ShortText | None = None
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)
    inputs: dict[Name, ComponentInput] = Field(default_factory=dict, max_length=64)
    outputs: dict[Name, ComponentOutput] = Field(default_factory=dict, max_length=64)
    code: PathText | None = None
    environment: PathText | EnvironmentSpec | None = None
    environment_variables: EnvironmentVariables = Field(default_factory=dict)
    command: Command
    is_deterministic: bool = True

    def problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for name in INPUT_REFERENCE.findall(self.command):
            if name not in self.inputs:
                problems.append(
                    (("command",), f"'${{{{inputs.{name}}}}}': the component declares no input '{name}' "
                     f"(inputs: {', '.join(self.inputs) or 'none'})")
                )  # fmt: skip
        for name, item in self.inputs.items():
            if item.default is not None:
                problem = literal_problem(item.type, item.default)
                if problem:
                    problems.append((("inputs", name, "default"), problem))
        return problems


@dataclass(frozen=True)
class ComponentReference:
    name: str
    version: str  # or "latest"


def parse_component_reference(text: str, field: str) -> ComponentReference:
    """``kiln:NAME:VERSION``, ``azureml:NAME:VERSION``, ``…:NAME@latest`` (or ``kiln:NAME``: the latest)."""
    match = _REFERENCE.match(text.strip())
    if match is None:
        raise InvalidSpec(
            f"{field}: '{text[:200]}' is not a component reference; use kiln:NAME:VERSION, azureml:NAME:VERSION, "
            "NAME@latest (kiln:train@latest), file:./component.yml, or an inline component"
        )
    return ComponentReference(match["name"], match["version"] or LATEST)


def literal_problem(input_type: str, value: Any) -> str | None:
    """What is wrong with ``value`` for a literal input of ``input_type`` (None: it fits)."""
    if input_type == "string":
        return None if isinstance(value, str | int | float | bool) else f"a string input takes text, not {value!r}"
    if input_type == "boolean":
        if isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false")):
            return None
        return f"a boolean input takes true or false, not {value!r}"
    if input_type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return None
        return f"an integer input takes a whole number, not {value!r}"
    if input_type == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return None
        try:
            float(value)
            return None
        except (TypeError, ValueError):
            return f"a number input takes a number, not {value!r}"
    return None


def read_component_file(path: Path, where: str) -> tuple[dict[str, Any], Path]:
    """A component file's mapping, checked (errors name its file and line), and the folder it is in."""
    from kiln.specs.yaml_source import format_loc, read_yaml_file, validate_model

    if not path.is_file():
        raise InvalidSpec(f"{where}: component file '{path}' not found (looked for {path.resolve()})")
    source = read_yaml_file(path)
    component = validate_model(ComponentSpec, source)
    problems = [f"{source.where(loc)}: {format_loc(loc)}: {message}" for loc, message in component.problems()]
    if problems:
        raise InvalidSpec("; ".join(problems))
    return component.model_dump(mode="json", by_alias=True, exclude_none=True), path.parent


def component_file(text: str) -> str | None:
    """The file a component reference names (``file:./train.yml``, or Azure's bare ``./train.yml``), if it is one."""
    if text.startswith(FILE_PREFIX):
        return text.removeprefix(FILE_PREFIX).strip()
    if not _REFERENCE.match(text.strip()) and text.strip().endswith((".yml", ".yaml")):
        return text.strip()
    return None


def read_component_reference(base_dir: Path, text: str, where: str) -> ComponentSpec:
    """The component file ``text`` names, relative to ``base_dir`` (the job file's folder), read on the submitting
    machine: its ``code`` folder made a local path for the client to upload."""
    from kiln.specs.job import UPLOAD_PREFIX

    data, folder = read_component_file(base_dir / (component_file(text) or text), where)
    code = data.get("code")
    if isinstance(code, str) and not code.startswith(UPLOAD_PREFIX) and ":" not in code:
        data["code"] = str((folder / code).resolve())
    return ComponentSpec.model_validate(data)


def bind_component_inputs(
    component: ComponentSpec, given: dict[str, Any], where: str, value_of: Callable[[Any, str], JobInput | Scalar]
) -> dict[str, JobInput | Scalar]:
    """``component``'s inputs as a job's: each given value (``value_of`` follows its binding) type-checked against
    what the component declares, defaults filled in; every mistake names ``where.inputs.NAME``."""
    unknown = sorted(set(given) - set(component.inputs))
    if unknown:
        raise InvalidSpec(
            f"{where}inputs.{unknown[0]}: component '{component.name}' has no input '{unknown[0]}' "
            f"(its inputs: {', '.join(component.inputs) or 'none'})"
        )
    bound: dict[str, JobInput | Scalar] = {}
    for key, declared in component.inputs.items():
        loc = f"{where}inputs.{key}"
        if key not in given:
            if declared.default is not None:
                bound[key] = declared.default
            elif not declared.optional:
                raise InvalidSpec(
                    f"{loc}: component '{component.name}' needs input '{key}' ({declared.type}); give it under "
                    f"{where}inputs, or make it optional in the component"
                )
            continue
        bound[key] = typed_input(value_of(given[key], loc), declared.type, declared.mode, loc)
    return bound


def typed_input(value: JobInput | Scalar, input_type: str, mode: str | None, loc: str) -> JobInput | Scalar:
    """``value`` as an input of ``input_type``, or InvalidSpec naming ``loc``."""
    if input_type in PATH_INPUT_TYPES:
        if not isinstance(value, JobInput) or not value.is_path():
            shown = value.default if isinstance(value, JobInput) else value
            raise InvalidSpec(
                f"{loc}: a {input_type} input takes a path ({{type: {input_type}, path: …}}, a pipeline input or "
                f"${{{{parent.jobs.STEP.outputs.NAME}}}}), not the literal {shown!r}"
            )
        return value.model_copy(update={"type": input_type, "mode": mode or value.mode})
    if isinstance(value, JobInput):
        if value.is_path():
            raise InvalidSpec(f"{loc}: a {input_type} input takes a value, not the path {value.path!r}")
        value = value.default if value.default is not None else ""
    problem = literal_problem(input_type, value)
    if problem:
        raise InvalidSpec(f"{loc}: {problem}")
    return value


def render_optional_blocks(command: str, given: set[str]) -> str:
    """Azure's optional parts of a command: ``$[[ --x ${{inputs.x}} ]]`` kept (without its brackets) when every
    input it names is given, dropped otherwise."""

    def keep(match: re.Match[str]) -> str:
        body = match["body"]
        return body if all(name in given for name in INPUT_REFERENCE.findall(body)) else ""

    return OPTIONAL_BLOCK.sub(keep, command)
