"""Lineage: what a model version or a job came from (code, environment, inputs, the job that made it)."""

from __future__ import annotations

from kiln.api.operation import Operation
from kiln.specs.model import LineageNode
from kiln.specs.roles import Role

MODEL = Operation(
    "lineage.model", "GET", "/api/v1/lineage/model/{name}/{version}",
    summary="A model version's lineage",
    description="Upstream: the job that made it, and its code, environment and inputs; also where it is served.",
    role=Role.READER, action="reading lineage",
    response=LineageNode,
    limit="scans",
)  # fmt: skip
JOB = Operation(
    "lineage.job", "GET", "/api/v1/lineage/job/{name}",
    summary="A job's lineage",
    description="Upstream: its code, environment and inputs.",
    role=Role.READER, action="reading lineage",
    response=LineageNode, query=("depth",),
    limit="scans",
)  # fmt: skip
