"""Compute targets: where jobs run. ``local`` is built in; a Ray cluster is registered by its dashboard
address; a named local compute (``type: local``) is another name for this machine, with its own queue.

The YAML takes Azure ML's compute field names (``name``, ``type``, ``description``, ``tags``)
plus, for Ray, ``address``, the Ray dashboard (Jobs API) URL such as ``http://head-node:8265``, and
``token_file``, where the cluster's token is on the workspace server's machine when its token authentication is
on (``RAY_AUTH_MODE=token``; only the path is kept, :mod:`kiln.runners.ray.token_file` reads it), and, for
a named local compute, ``max_concurrent_jobs`` and ``gpus``. A job names it as Azure files do:
``compute: azureml:cpu-cluster`` (or ``kiln:cpu-cluster``, or ``cpu-cluster``).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kiln.specs.bounded import PathText, Tags, Text

COMPUTE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
LOCAL = "local"
RAY = "ray"

Scalar = str | int | float | bool
MAX_CONCURRENT_JOBS = 1024
GPU_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"  # CUDA_VISIBLE_DEVICES names: 0, GPU-<uuid>, MIG-<uuid>


class ComputeSpec(BaseModel):
    """A compute target to register (``kiln compute create -f compute.yml``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: PathText | None = Field(None, alias="$schema")
    name: str = Field(pattern=COMPUTE_NAME_PATTERN, description="How jobs name it: compute: azureml:NAME")
    type: Literal["ray", "local"] = Field(
        description="ray: a Ray cluster, reached through its Jobs API; local: another name for this machine"
    )
    address: PathText | None = Field(None, description="ray: the Ray dashboard's URL, e.g. http://head-node:8265")
    token_file: PathText | None = Field(
        None,
        description="ray: where the cluster's token is (its token authentication on, RAY_AUTH_MODE=token): an "
        "absolute path on the workspace server's machine, a file of mode 0600 holding the token alone; read at "
        "each connection, never stored or shown; only an owner may name one",
    )
    max_concurrent_jobs: int | None = Field(
        None, ge=1, le=MAX_CONCURRENT_JOBS,
        description="local: jobs it runs at once (the rest wait queued); default the workspace's local_concurrency",
    )  # fmt: skip
    gpus: list[str] | None = Field(
        None, max_length=64,
        description="local: the ids of this machine's GPUs its jobs may use (e.g. [0, 1]); default all of them",
    )  # fmt: skip
    description: Text | None = None
    tags: Tags = Field(default_factory=dict)

    @field_validator("gpus", mode="before", json_schema_input_type=str | list[int | str] | None)
    @classmethod
    def _gpu_ids(cls, value: Any) -> Any:
        """``0,1`` (the CLI's --gpus), ``[0, 1]`` or ``["GPU-…"]``; ``""`` or ``[]``: no GPUs."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            value = [str(item) if isinstance(item, int) and not isinstance(item, bool) else item for item in value]
            for item in value:
                if not isinstance(item, str) or not re.fullmatch(GPU_ID_PATTERN, item):
                    raise ValueError(f"{item!r} is not a GPU id (an index such as 0, or a GPU-<uuid> name)")
            if len(set(value)) != len(value):
                raise ValueError("a GPU id is listed twice")
        return value

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> ComputeSpec:
        if self.type == RAY:
            if self.address is None:
                raise ValueError("address: a Ray compute target needs the Ray dashboard's URL (http://HOST:8265)")
            given = [f for f in ("max_concurrent_jobs", "gpus") if getattr(self, f) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: only a compute target of type local takes it (a Ray cluster has its own)"
                )
        else:
            given = [f for f in ("address", "token_file") if getattr(self, f) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: a compute target of type local is this machine and takes no "
                    f"{' or '.join(f.replace('_', ' ') for f in given)}; leave it out (or use type: ray for a Ray "
                    "cluster)"
                )
        return self

    @field_validator("token_file")
    @classmethod
    def _absolute_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not PurePosixPath(value).is_absolute():
            raise ValueError(
                f"'{value}' is not an absolute path; give the token file's full path on the workspace server's "
                "machine, e.g. /home/ray/.ray/auth_token (the server reads it, wherever the CLI runs)"
            )
        return value

    @field_validator("address")
    @classmethod
    def _dashboard_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
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
    token_file: str | None = Field(
        None, description="a Ray cluster: the file its token is read from (the path only; the token is never shown)"
    )
    max_concurrent_jobs: int | None = Field(None, description="a named local compute: jobs it runs at once")
    gpus: list[str] | None = Field(None, description="a named local compute: the GPU ids its jobs may use")
    description: str | None = None
    tags: dict[str, Any] = {}
    created_at: datetime | None = None
    created_by: str | None = None
    use: ComputeUse | None = None
    problem: str | None = Field(None, description="why its capacity could not be read (e.g. the cluster is down)")
