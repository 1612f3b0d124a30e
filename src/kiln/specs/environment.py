"""Environments: Azure ML CLI v2 field names, used as YAML schema, REST body and SDK argument.

An environment is a Python version plus a list of pip requirements, taken from a conda
file (its ``python`` version and its ``pip:`` list; conda itself is never run), from a
pip requirements file, or from the requirement files a Docker ``build`` context's Dockerfile
installs (kiln reads the Dockerfile; it never runs Docker). ``image`` is recorded for
packaging (containers), not used to run.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kiln.errors import InvalidSpec
from kiln.specs.bounded import PathText, Tags, Text
from kiln.specs.html_tables import HtmlTable

ENVIRONMENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
REFERENCE_PREFIXES = ("kiln:", "azureml:")
REGISTRY_REFERENCE = re.compile(
    r"^azureml://registries/(?P<registry>[^/]+)/environments/(?P<name>[^/]+)"
    r"(?:/versions/(?P<version>[^/]+)|/labels/(?P<label>[^/]+))?/?$"
)
LATEST = "latest"
# conda packages that describe the interpreter or the installer, not something to install
CONDA_TOOLING = {"python", "pip", "setuptools", "wheel"}

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CondaFile(BaseModel):
    """A conda environment file. Only ``python`` and the ``pip:`` list are used."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    channels: list[str] = Field(default_factory=list)
    dependencies: list[str | dict[str, list[str]]] = Field(default_factory=list)
    variables: dict[str, str] | None = None
    prefix: str | None = None


class BuildContext(_Strict):
    """A Docker build context (Azure's ``build:``). kiln reads its Dockerfile for the requirements it installs."""

    path: str = Field(description="The context folder, relative to the YAML (read by the CLI/SDK).")
    dockerfile_path: str = Field("Dockerfile", description="The Dockerfile, relative to the context folder.")
    dockerfile: str | None = Field(None, description="The Dockerfile's content (the CLI/SDK sends it).")
    files: dict[str, str] = Field(
        default_factory=dict,
        description="The context's requirement files the Dockerfile installs, by path in the context (sent by the CLI/SDK).",
    )


class EnvironmentSpec(_Strict):
    schema_: PathText | None = Field(None, alias="$schema")
    name: str | None = Field(None, pattern=ENVIRONMENT_NAME_PATTERN)
    version: str | None = Field(None, pattern=VERSION_PATTERN)
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)
    image: PathText | None = Field(None, description="Recorded for packaging (container builds); jobs run in a venv.")
    conda_file: str | CondaFile | None = Field(
        None, description="A conda file: a path relative to the YAML (read by the CLI/SDK) or its content."
    )
    pip_requirements: str | list[str] | None = Field(
        None, description="A pip requirements file: a path relative to the YAML (read by the CLI/SDK) or its lines."
    )
    build: BuildContext | None = Field(
        None, description="A Docker build context: kiln uses the pip/conda requirement files its Dockerfile installs."
    )

    def python_version(self, field: str = "conda_file") -> str | None:
        """The ``python`` pin of the conda file, if any (``python=3.11`` → ``3.11``)."""
        conda = self._conda()
        for entry in conda.dependencies if conda else []:
            if isinstance(entry, str):
                name, version = _split_conda(entry)
                if name == "python":
                    if not version:
                        return None  # any python: the workspace server's own version
                    if not re.fullmatch(r"\d+(\.\d+){0,2}", version):
                        raise InvalidSpec(f"{field}: '{entry}': give the python version as python=3.X")
                    return version
        return None

    def requirement_lines(self, field: str = "") -> list[str]:
        """Every requirement, as pip requirement lines, in the order written."""
        prefix = f"{field}." if field else ""
        self.check_inline(field)
        lines: list[str] = []
        conda = self._conda()
        if conda:
            for index, entry in enumerate(conda.dependencies):
                if isinstance(entry, dict):
                    for key, items in entry.items():
                        if key != "pip":
                            raise InvalidSpec(
                                f"{prefix}conda_file.dependencies[{index}]: only a 'pip:' list can be nested here, not '{key}:'"
                            )
                        lines.extend(items)
                    continue
                name, version = _split_conda(entry)
                if name not in CONDA_TOOLING:
                    lines.append(_conda_to_pip(name, version))
        if isinstance(self.pip_requirements, list):
            lines.extend(self.pip_requirements)
        return [_clean_requirement(line, f"{prefix}pip_requirements") for line in lines if _clean(line)]

    def check_inline(self, field: str = "") -> None:
        """A spec that reaches the server carries file contents, never paths of the client."""
        prefix = f"{field}." if field else ""
        for name in ("conda_file", "pip_requirements"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise InvalidSpec(
                    f"{prefix}{name}: got the path '{value}'; the workspace does not read files of the "
                    "submitting machine: send the file's content (the kiln CLI and SDK read it for you)"
                )
        if self.build is not None:
            if self.build.dockerfile is None:
                raise InvalidSpec(
                    f"{prefix}build: got the folder '{self.build.path}' without its Dockerfile's content; the "
                    "workspace does not read files of the submitting machine (the kiln CLI and SDK send it for you)"
                )
            if self.conda_file is not None or self.pip_requirements is not None:
                raise InvalidSpec(
                    f"{prefix}build: give either 'build' (a Docker context) or 'conda_file'/'pip_requirements', not both"
                )

    def _conda(self) -> CondaFile | None:
        return self.conda_file if isinstance(self.conda_file, CondaFile) else None


def _split_conda(entry: str) -> tuple[str, str]:
    """``numpy=1.26=py311_0`` → (``numpy``, ``=1.26``); ``python=3.11`` → (``python``, ``3.11``)."""
    text = entry.strip()
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", text)
    if not match:
        return text.lower(), ""
    name, rest = match.group(1).lower(), match.group(2).strip()
    if rest.startswith("=") and not rest.startswith("=="):
        rest = rest[1:].split("=", 1)[0]  # conda's single '=' pin; a build string after a second '=' is dropped
    elif name == "python" and rest.startswith("=="):
        rest = rest[2:]
    return name, rest


def _conda_to_pip(name: str, version: str) -> str:
    """A plain conda package becomes a pip requirement: conda's ``=1.26`` means ``1.26.*``."""
    if not version:
        return name
    if version[0].isdigit():
        return f"{name}=={version}" if version.endswith("*") else f"{name}=={version}.*"
    return f"{name}{version}"


def _clean(line: str) -> str:
    return line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""


def _clean_requirement(line: str, field: str) -> str:
    text = " ".join(_clean(line).split())
    if text.startswith("-"):
        raise InvalidSpec(
            f"{field}: '{text}': pip options are not supported in an environment; the index, extra "
            "index and find-links come from the workspace server's pip configuration"
        )
    return text


def parse_registry_reference(reference: str) -> tuple[str, str, str] | None:
    """``azureml://registries/R/environments/NAME/versions/V`` (or ``/labels/latest``, or neither) →
    (R, NAME, V or 'latest'); None for any other reference."""
    text = reference.strip()
    if not text.startswith("azureml://registries/"):
        return None
    match = REGISTRY_REFERENCE.match(text)
    if not match:
        raise InvalidSpec(
            f"environment: '{reference}': expected azureml://registries/REGISTRY/environments/NAME/versions/VERSION "
            "or …/environments/NAME/labels/latest"
        )
    label = match.group("label")
    if label is not None and label != LATEST:
        raise InvalidSpec(f"environment: '{reference}': only the label 'latest' is supported")
    version = match.group("version") or LATEST
    name = match.group("name")
    if not re.fullmatch(ENVIRONMENT_NAME_PATTERN, name) or not re.fullmatch(VERSION_PATTERN, version):
        raise InvalidSpec(f"environment: '{reference}': not a valid environment name and version")
    return match.group("registry"), name, version


def parse_environment_reference(reference: str) -> tuple[str, str]:
    """``kiln:NAME:VERSION``, ``azureml:NAME:VERSION`` or ``…:NAME@latest`` → (name, version or 'latest')."""
    text = reference.strip()
    for prefix in REFERENCE_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if text.startswith("//"):
        raise InvalidSpec(
            f"environment: '{reference}': of the azureml:// references kiln reads only "
            "azureml://registries/REGISTRY/environments/NAME/…; use kiln:NAME:VERSION for this workspace's environments"
        )
    if "@" in text:
        name, _, label = text.partition("@")
        if label != LATEST:
            raise InvalidSpec(f"environment: '{reference}': only the label '@latest' is supported")
        version = LATEST
    else:
        name, sep, version = text.partition(":")
        if not sep or not version:
            raise InvalidSpec(
                f"environment: '{reference}': expected kiln:NAME:VERSION or kiln:NAME@latest (azureml: works too)"
            )
    if not re.fullmatch(ENVIRONMENT_NAME_PATTERN, name) or not re.fullmatch(VERSION_PATTERN, version):
        raise InvalidSpec(f"environment: '{reference}': not a valid environment name and version")
    return name, version


class EnvironmentView(HtmlTable, BaseModel):
    """A registered environment version, as the REST API answers."""

    name: str
    version: str
    description: str | None
    tags: dict[str, Any]
    image: str | None
    status: str = Field(description="building, ready or failed")
    hash: str = Field(description="sha256 of python version + sorted requirements + index settings")
    python: str = Field(description="the interpreter version the venv uses")
    requirements: list[str] = Field(description="what was asked for (with mlflow-skinny added if missing)")
    packages: list[str] = Field(description="what was installed, exactly (uv pip freeze)")
    build_log: str | None = Field(description="where the build log is kept on the workspace server")
    error: str | None
    notes: list[str] = Field(
        default_factory=list, description="What kiln does differently from Azure with this spec (an image, a build)."
    )
    created_at: datetime
    built_at: datetime | None
    spec: dict[str, Any]
    created_by: str | None = Field(None, description="the user who created it (None: created before users existed)")


def image_note(spec: EnvironmentSpec, python: str, added: str | None) -> str:
    """What an ``image`` means on kiln: nothing runs in it; what the job gets instead."""
    head = f"kiln does not run container images: image '{spec.image}' is recorded (for packaging), not used."
    if spec.conda_file is None and spec.pip_requirements is None:
        client = f" and the MLflow client ({added})" if added else ""
        return (
            f"{head} Jobs get a venv with the workspace server's python {python}{client} only, none of the "
            "image's packages: list the packages the job needs in conda_file or pip_requirements"
        )
    return (
        f"{head} Jobs get a venv with python {python} and the packages of conda_file/pip_requirements "
        "(the image's system libraries and tools are not there)"
    )
