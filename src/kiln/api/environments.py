"""Environments: register versions (built into cached venvs), read them and their build logs, and
read the environment a job ran with."""

from __future__ import annotations

from typing import Any

from kiln.api.operation import TEXT, Operation
from kiln.errors import AlreadyExists
from kiln.specs.environment import EnvironmentSpec, EnvironmentView
from kiln.specs.roles import Role

CREATE = Operation(
    "environments.create", "POST", "/api/v1/environments",
    summary="Register an environment version and start its build",
    description=(
        "The version starts as 'building' (a cache hit is 'ready' at once). "
        "The same name, version and spec again answers 200 with the existing version."
    ),
    role=Role.CONTRIBUTOR, action="creating environments",
    response=EnvironmentView, status_code=201, also_answers=(200,), body=EnvironmentSpec, errors=(AlreadyExists,),
)  # fmt: skip
LIST = Operation(
    "environments.list", "GET", "/api/v1/environments",
    summary="List environments",
    role=Role.READER, action="listing environments",
    response=list[EnvironmentView], query=("name",),
)  # fmt: skip
SHOW = Operation(
    "environments.show", "GET", "/api/v1/environments/{name}/versions/{version}",
    summary="Read an environment version",
    description="``version`` may be 'latest'.",
    role=Role.READER, action="reading environments",
    response=EnvironmentView,
)  # fmt: skip
LOG = Operation(
    "environments.log", "GET", "/api/v1/environments/{name}/versions/{version}/log",
    summary="An environment's build log",
    description="With ``follow``, new lines as they come until the build ends.",
    role=Role.READER, action="reading build logs",
    response=str, media_type=TEXT, query=("follow",),
    limit="logs",
)  # fmt: skip
OF_JOB = Operation(
    "environments.of_job", "GET", "/api/v1/jobs/{name}/environment",
    summary="The environment a job ran with",
    description="Its kind, name and version or inline spec, hash, python and exact packages.",
    role=Role.READER, action="reading jobs",
    response=dict[str, Any],
)  # fmt: skip
