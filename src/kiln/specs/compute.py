"""Compute targets: where jobs run. ``local`` is built in; a Ray cluster is registered by its dashboard address.

The YAML takes Azure ML's compute field names (``name``, ``type``, ``description``, ``tags``)
plus ``address``, the Ray dashboard (Jobs API) URL such as ``http://head-node:8265``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kiln.specs.bounded import PathText, Tags, Text

COMPUTE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
LOCAL = "local"
RAY = "ray"

Scalar = str | int | float | bool


class ComputeSpec(BaseModel):
    """A compute target to register (``kiln compute create -f compute.yml``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: PathText | None = Field(None, alias="$schema")
    name: str = Field(pattern=COMPUTE_NAME_PATTERN, description="How jobs name it: compute: kiln:NAME")
    type: Literal["ray"] = Field(description="ray: a Ray cluster, reached through its Jobs API")
    address: PathText = Field(description="The Ray dashboard's URL, e.g. http://head-node:8265")
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)

    @field_validator("address")
    @classmethod
    def _dashboard_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme == "ray":
            raise ValueError(
                f"'{value}' is a Ray Client address; give the Ray dashboard's URL instead (http://HOST:8265), "
                "where the Jobs API listens"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value}' is not an http(s) URL; give the Ray dashboard's URL, e.g. http://HOST:8265")
        if parts.query or parts.fragment:
            raise ValueError(f"'{value}': the address takes no query or fragment; give http(s)://HOST:PORT")
        return value


class ComputeUse(BaseModel):
    """What a compute target has and how much of it is taken now. ``None``: not known."""

    nodes: int
    cpus: float
    cpus_used: float | None = None
    gpus: float = 0
    gpus_used: float | None = None
    memory_bytes: int | None = None
    memory_used_bytes: int | None = None
    job_slots: int | None = Field(None, description="local: jobs that run at once (the rest wait queued)")
    jobs_running: int = Field(0, description="kiln jobs preparing or running on it")
    jobs_queued: int = Field(0, description="kiln jobs waiting for it")


class ComputeView(BaseModel):
    name: str
    type: str
    address: str | None = None
    description: str | None = None
    tags: dict[str, Any] = {}
    created_at: datetime | None = None
    created_by: str | None = None
    use: ComputeUse | None = None
    problem: str | None = Field(None, description="why its capacity could not be read (e.g. the cluster is down)")
