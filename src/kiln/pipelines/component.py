"""Azure ML's command component: a reusable step (``type: command``) with typed ``inputs`` and ``outputs``, its
``code``, ``environment`` and ``command``; versioned in the workspace like data assets, or read from a file next to
the pipeline (``component: file:./train.yml``). Also how a step names one (``parse_component_reference``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kiln.errors import InvalidSpec
from kiln.specs.bounded import Command, EnvironmentVariables, Name, PathText, ShortText, StrictModel, Tags, Text
from kiln.specs.environment import EnvironmentSpec
from kiln.specs.job import LITERAL_INPUT_TYPES, PATH_INPUT_TYPES, Problem, Scalar

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


def render_optional_blocks(command: str, given: set[str]) -> str:
    """Azure's optional parts of a command: ``$[[ --x ${{inputs.x}} ]]`` kept (without its brackets) when every
    input it names is given, dropped otherwise."""

    def keep(match: re.Match[str]) -> str:
        body = match["body"]
        return body if all(name in given for name in INPUT_REFERENCE.findall(body)) else ""

    return OPTIONAL_BLOCK.sub(keep, command)
