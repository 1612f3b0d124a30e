"""The pipelines capability's REST operations: command components, versioned like data assets (no server
imported here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from kiln.api.operation import Operation
from kiln.errors import Conflict, NotFound
from kiln.pipelines.component import ComponentSpec
from kiln.specs.roles import Role


class ComponentView(BaseModel):
    name: str
    version: str
    display_name: str | None = None
    description: str | None = None
    is_deterministic: bool = True
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    command: str
    code_hash: str | None = Field(None, description="its code snapshot's content hash, pinned at create")
    environment: Any = None
    spec: dict[str, Any] = Field(default_factory=dict, description="the component as stored (code as upload:<hash>)")
    created_at: datetime
    created_by: str | None = None


CREATE = Operation(
    "components.create", "POST", "/api/v1/components",
    summary="Create a command component version",
    description="Its ``code`` is an ``upload:<hash>`` reference (pinned by its hash). Without ``version``, the next "
    "one (1, 2, …); a version that exists is a Conflict (versions are immutable).",
    role=Role.CONTRIBUTOR, action="creating components",
    response=ComponentView, status_code=201, body=ComponentSpec, errors=(Conflict,),
)  # fmt: skip
LIST = Operation(
    "components.list", "GET", "/api/v1/components",
    summary="List components",
    description="The latest version of each component, or every version of ``name`` (newest first).",
    role=Role.READER, action="listing components",
    response=list[ComponentView], query=("name",), errors=(NotFound,),
)  # fmt: skip
SHOW = Operation(
    "components.show", "GET", "/api/v1/components/{name}/versions/{version}",
    summary="Read a component version",
    description="``latest`` is the newest version.",
    role=Role.READER, action="reading components",
    response=ComponentView, errors=(NotFound,),
)  # fmt: skip
