"""JSON Schemas of every YAML kind kiln reads, generated from the pydantic specs: what an editor (VS Code's YAML
extension) validates and completes a file with, ``kiln schema export`` writes and the server answers at
``/schemas/<kind>.json``.

The kinds are the resource specs below and one per registered job kind (``kiln.specs.job_kinds``, so a
capability's job type has its schema as soon as it is loaded), plus ``job``: any registered kind. A schema says
what kiln accepts, Azure ML's field names included, and ``$schema`` (Azure's schema URLs or kiln's) is a field
like any other; an unknown field is refused (``additionalProperties: false``), as kiln refuses it.
"""

from __future__ import annotations

import re
from typing import Any

from kiln.errors import NotFound
from kiln.specs.job_kinds import job_kinds, load_attribute

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS_PATH = "/schemas"  # where a server answers them: /schemas/<kind>.json
RESOURCE_KINDS: dict[str, tuple[str, str]] = {
    "environment": ("kiln.specs.environment:EnvironmentSpec", "an environment (kiln environment create -f)"),
    "data": ("kiln.specs.data:DataSpec", "a data asset (kiln data create -f)"),
    "model": ("kiln.specs.model:ModelSpec", "a model version (kiln model create -f)"),
    "online-endpoint": ("kiln.specs.endpoint:OnlineEndpointSpec", "an online endpoint (kiln online-endpoint create -f)"),
    "online-deployment": (
        "kiln.specs.endpoint:OnlineDeploymentSpec", "an online deployment (kiln online-deployment create -f)",
    ),
    "compute": ("kiln.specs.compute:ComputeSpec", "a compute target (kiln compute create -f)"),
    "datastore": ("kiln.specs.datastore:DatastoreSpec", "a datastore (kiln datastore create -f)"),
    "component": ("kiln.pipelines.component:ComponentSpec", "a command component (kiln component create -f)"),
    "schedule": ("kiln.schedules.spec:ScheduleSpec", "a schedule (kiln schedule create -f)"),
    "batch-endpoint": ("kiln.batch.spec:BatchEndpointSpec", "a batch endpoint (kiln batch-endpoint create -f)"),
    "batch-deployment": (
        "kiln.batch.spec:BatchDeploymentSpec", "a batch deployment (kiln batch-deployment create -f)",
    ),
    "config": ("kiln.config:Settings", "the workspace's settings (KILN_HOME/config.yaml; unknown keys are ignored)"),
}  # fmt: skip
ANY_JOB = "job"
_KIND_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def job_kind_schema_name(job_type: str) -> str:
    """The schema of one job type: ``command-job``, ``responsible_ai-job``…"""
    return f"{job_type}-job"


def schema_kinds() -> list[str]:
    """Every kind with a schema, in a stable order: the resources, ``job``, then one per registered job kind."""
    return [*RESOURCE_KINDS, ANY_JOB, *(job_kind_schema_name(kind.type) for kind in job_kinds())]


def json_schema(kind: str, base_url: str | None = None) -> dict[str, Any]:
    """The JSON Schema of ``kind`` (NotFound naming the kinds for another); ``$id`` under ``base_url`` if given."""
    if kind in RESOURCE_KINDS:
        model_name, description = RESOURCE_KINDS[kind]
        schema = _model_schema(load_attribute(model_name))
        schema["description"] = f"{description}: {schema.get('description', '')}".rstrip(": ")
    elif kind == ANY_JOB:
        schema = _any_job_schema()
    else:
        job = next((k for k in job_kinds() if job_kind_schema_name(k.type) == kind), None)
        if job is None or not _KIND_NAME.match(kind):
            raise NotFound(f"no YAML kind '{kind}' has a schema; the kinds: {', '.join(schema_kinds())}")
        schema = _model_schema(job.spec_class())
        schema["description"] = f"a {job.type} job (kiln job create -f): {job.description}"
    head: dict[str, Any] = {"$schema": SCHEMA_DIALECT}
    if base_url is not None:
        head["$id"] = f"{base_url.rstrip('/')}{SCHEMAS_PATH}/{kind}.json"
    return {**head, "title": f"kiln {kind}", **{k: v for k, v in schema.items() if k != "title"}}


def _model_schema(model: Any) -> dict[str, Any]:
    schema: dict[str, Any] = model.model_json_schema(by_alias=True, mode="validation")
    return schema


def _any_job_schema() -> dict[str, Any]:
    """``anyOf`` the registered kinds' schemas, their definitions merged (a name two kinds share is one model)."""
    definitions: dict[str, Any] = {}
    choices = []
    for kind in job_kinds():
        schema = _model_schema(kind.spec_class())
        definitions.update(schema.pop("$defs", {}))
        name = kind.spec_class().__name__
        definitions[name] = schema
        choices.append({"$ref": f"#/$defs/{name}"})
    kinds = ", ".join(kind.type for kind in job_kinds())
    return {"description": f"a job of any kind kiln runs ({kinds}; type: command when absent)", "anyOf": choices,
            "$defs": definitions}  # fmt: skip
