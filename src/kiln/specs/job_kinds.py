"""Job kinds: the values a job's ``type`` may take and, for each, its spec class and its engine handler.

A kind is declared once, as a :class:`JobKind`, and registered in one place: the built-in
``command`` kind here, every other kind by the capability that brings it
(``kiln.capabilities``). The spec class (a pydantic model: the YAML schema, REST body and SDK
argument of that type) is loaded wherever specs are parsed (SDK, CLI, server); the handler is
loaded by the job engine only. Both are named as ``"module:attribute"`` and imported on first
use, so declaring a kind imports nothing heavy and this module imports no runtime package.
"""

from __future__ import annotations

import functools
import operator
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from kiln.errors import InvalidSpec
from kiln.specs.job_kind_declarations import JobKind, add_kind, load_attribute, take_declared

if TYPE_CHECKING:  # imported where a spec is parsed: listing jobs (kiln.api.jobs names ANY_JOB_KIND) does without
    from pydantic import BaseModel  # and so does declaring a kind (`kiln --help` loads built-in capabilities' kinds)

    from kiln.specs.yaml_source import YamlSource

DEFAULT_JOB_TYPE = "command"  # Azure ML's default when a job file has no `type`
ANY_JOB_KIND = "a job of any registered kind"  # the body of the REST route that creates jobs (kiln.api.jobs)


COMMAND = JobKind(
    "command",
    spec="kiln.specs.job:CommandJobSpec",
    handler="kiln.jobs.command:CommandJobHandler",
    description="a shell command in the job's environment (Azure ML's command job)",
)

_kinds: dict[str, JobKind] = {COMMAND.type: COMMAND}
_lock = threading.Lock()

__all__ = ["COMMAND", "JobKind", "job_kind", "job_kinds", "load_attribute", "parse_job_spec", "register_job_kind"]


def register_job_kind(kind: JobKind) -> None:
    """Make ``kind`` known. Registering the same declaration again is a no-op; another one under a
    taken ``type`` is a programming error (two capabilities claim one type)."""
    with _lock:
        add_kind(_kinds, kind)


def job_kinds() -> list[JobKind]:
    """Every registered kind, in registration order (``command`` first)."""
    with _lock:
        return list(_kinds.values())


# Azure ML's job types that kiln does not run (yet), and what to use instead where kiln has something
AZURE_TYPES_NOT_RUN = {
    "automl": "train with a framework of your choice in a command job (scikit-learn, PyTorch, …)",
    "parallel": "score in a command job, or with distribution: {type: pytorch, process_count_per_instance: N}",
    "spark": "use a command job with pyspark in its environment, or a Ray compute target",
    "import": "download the data yourself and register it with kiln data create",
}


def job_kind(job_type: object) -> JobKind:
    """The kind of a ``type`` value; InvalidSpec listing the known types for any other value (and, for an
    Azure ML type kiln does not run, what to use instead)."""
    with _lock:
        kind = _kinds.get(job_type) if isinstance(job_type, str) else None
        known = ", ".join(_kinds)
    if kind is not None:
        return kind
    instead = AZURE_TYPES_NOT_RUN.get(str(job_type))
    if instead is not None:
        raise InvalidSpec(f"type: kiln does not run 'type: {job_type}' jobs (it runs: {known}); instead, {instead}")
    raise InvalidSpec(f"type: '{job_type}' is not a job type this workspace knows (known types: {known})")


def refuse_other_azure_files(data: Mapping[str, Any]) -> None:
    """Azure ML files that are not jobs at all, handed to ``kiln job create``: said plainly, before any schema."""
    if "trigger" in data and ("create_job" in data or "type" not in data):
        raise InvalidSpec(
            "this is a schedule (it has 'trigger:'), not a job: create it with kiln schedule create -f FILE, and "
            "the workspace server submits its create_job on that timetable"
        )
    if "source" in data and data.get("type") in (None, "uri_file", "uri_folder", "mltable"):
        raise InvalidSpec(
            "this is a data import (it has 'source:'), not a job; kiln does not import from external sources: "
            "download the data, then register it with kiln data create"
        )


def job_type_of(data: Mapping[str, Any]) -> str:
    """The ``type`` a job mapping declares (``command`` when it declares none, as in Azure ML)."""
    value = data.get("type", DEFAULT_JOB_TYPE)
    return value if isinstance(value, str) else str(value)


def parse_job_spec(source: YamlSource | Mapping[str, Any]) -> BaseModel:
    """Validate a job mapping (a YAML file's source, or a plain mapping) into its kind's spec class.

    Errors name the field (and the file and line, for a YAML source), as every spec error does."""
    from pydantic import ValidationError

    from kiln.specs.yaml_source import YamlSource, explain_validation_error, validate_model

    if isinstance(source, YamlSource):
        if not isinstance(source.data, dict):
            raise InvalidSpec(f"{source.label}: expected a mapping of fields at the top level")
        try:
            refuse_other_azure_files(source.data)
            kind = job_kind(job_type_of(source.data))
        except InvalidSpec as exc:
            raise InvalidSpec(f"{source.where(('type',))}: {exc.message}") from None
        return validate_model(kind.spec_class(), source)
    data = dict(source)
    refuse_other_azure_files(data)
    spec_class = job_kind(job_type_of(data)).spec_class()
    try:
        return spec_class.model_validate(data)
    except ValidationError as exc:
        raise explain_validation_error(exc) from None


def job_spec_body() -> Any:
    """The type of a request body that is a job of any kind registered now (for the REST route that creates jobs).

    It is validated by :func:`parse_job_spec` (an InvalidSpec naming the field, as from every front
    door) and documented as the kinds' spec classes, one of which ``type`` selects."""
    from pydantic import Field, PlainValidator

    classes = [kind.spec_class() for kind in job_kinds()]
    documented: Any = functools.reduce(operator.or_, classes)
    if len(classes) > 1:
        documented = Annotated[documented, Field(discriminator="type")]
    return Annotated[Any, PlainValidator(_parse_body, json_schema_input_type=documented)]


def _parse_body(body: Any) -> BaseModel:
    if not isinstance(body, Mapping):
        raise InvalidSpec("the request body must be a job: a JSON object of its fields")
    return parse_job_spec(body)


for _declared_kind in take_declared():  # declared by capabilities loaded before this module
    register_job_kind(_declared_kind)
