"""Compute targets: ``local`` (this machine) is built in; Ray clusters are registered by address."""

from __future__ import annotations

from kiln.api.operation import NO_CONTENT, Operation
from kiln.errors import AlreadyExists, Conflict, Unavailable
from kiln.specs.compute import ComputeSpec, ComputeView
from kiln.specs.roles import Role

CREATE = Operation(
    "computes.create", "POST", "/api/v1/computes",
    summary="Register a named local compute or a Ray cluster",
    description="type local: this machine under a name of its own, with its own job limit and GPUs. type ray: by "
    "its dashboard URL; refused (503, nothing recorded) if it does not answer or refuses the token. token_file (a "
    "cluster with token authentication): a file on the server's machine, read there (422 if it cannot be read, "
    "is empty, holds no token or is open to other users); naming one needs owner.",
    role=Role.CONTRIBUTOR, action="registering compute targets",
    response=ComputeView, status_code=201, body=ComputeSpec, errors=(AlreadyExists, Unavailable),
)  # fmt: skip
LIST = Operation(
    "computes.list", "GET", "/api/v1/computes",
    summary="List compute targets with their capacity and use",
    description="A cluster that does not answer has ``problem`` set.",
    role=Role.READER, action="listing compute targets",
    response=list[ComputeView],
)  # fmt: skip
SHOW = Operation(
    "computes.show", "GET", "/api/v1/computes/{name}",
    summary="Read a compute target",
    role=Role.READER, action="reading compute targets",
    response=ComputeView,
)  # fmt: skip
DELETE = Operation(
    "computes.delete", "DELETE", "/api/v1/computes/{name}",
    summary="Forget a Ray cluster",
    description="The cluster itself is untouched; refused while kiln jobs wait for or run on it.",
    role=Role.CONTRIBUTOR, action="deleting compute targets",
    response=NO_CONTENT, status_code=204, errors=(Conflict,),
)  # fmt: skip
