"""Online endpoints and their deployments (the control plane; scoring goes through the endpoint's
scoring URI with an endpoint key, outside this API), and the gateway's Prometheus metrics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from kiln.api.operation import EVENT_STREAM, NO_CONTENT, Operation
from kiln.errors import AlreadyExists, Conflict
from kiln.specs.endpoint import (
    EndpointKeys,
    EndpointUpdate,
    OnlineDeploymentSpec,
    OnlineDeploymentView,
    OnlineEndpointSpec,
    OnlineEndpointView,
)
from kiln.specs.model import LineageNode
from kiln.specs.roles import Role

PROMETHEUS_TEXT = "text/plain; version=0.0.4"


class RegenerateKeys(BaseModel):
    key_type: Literal["primary", "secondary"] = "primary"


class DeploymentLogs(BaseModel):
    logs: str


class InvokeRequest(BaseModel):
    """The body of POST /api/v1/online-endpoints/{name}/invoke: what to send through the scoring URI."""

    body: Any = Field(description="the JSON request body the scoring URI gets, as a client would send it")
    deployment: str | None = Field(None, description="send it to this deployment (else the traffic split picks)")


class InvokeAnswer(BaseModel):
    """What the scoring URI answered: its status, the deployment that answered, and the body."""

    status: int
    deployment: str | None = Field(None, description="the deployment that answered (None: the gateway itself)")
    body: Any = Field(description="the answer as JSON, or as text where it is not JSON")


CREATE = Operation(
    "endpoints.create", "POST", "/api/v1/online-endpoints",
    summary="Create an online endpoint",
    role=Role.CONTRIBUTOR, action="creating endpoints",
    response=OnlineEndpointView, status_code=201, body=OnlineEndpointSpec, errors=(AlreadyExists,),
)  # fmt: skip
LIST = Operation(
    "endpoints.list", "GET", "/api/v1/online-endpoints",
    summary="List online endpoints",
    role=Role.READER, action="listing endpoints",
    response=list[OnlineEndpointView],
)  # fmt: skip
SHOW = Operation(
    "endpoints.show", "GET", "/api/v1/online-endpoints/{name}",
    summary="Read an online endpoint",
    role=Role.READER, action="reading endpoints",
    response=OnlineEndpointView,
)  # fmt: skip
UPDATE = Operation(
    "endpoints.update", "PATCH", "/api/v1/online-endpoints/{name}",
    summary="Change an endpoint's traffic split, mirroring, description or tags",
    description="``traffic`` replaces the whole split; deployments left out get 0 %.",
    role=Role.CONTRIBUTOR, action="updating endpoints",
    response=OnlineEndpointView, body=EndpointUpdate, errors=(Conflict,),
)  # fmt: skip
DELETE = Operation(
    "endpoints.delete", "DELETE", "/api/v1/online-endpoints/{name}",
    summary="Delete an online endpoint and its deployments",
    role=Role.CONTRIBUTOR, action="deleting endpoints",
    response=NO_CONTENT, status_code=204,
)  # fmt: skip
KEYS = Operation(
    "endpoints.keys", "POST", "/api/v1/online-endpoints/{name}/keys",
    summary="Read an endpoint's scoring keys",
    description="POST, not GET, so that no cache keeps the keys. A key lets its holder score: readers get none.",
    role=Role.CONTRIBUTOR, action="reading endpoint keys",
    response=EndpointKeys,
    audited=False,  # a read (POST only to keep the keys out of caches); regenerating them is audited
)  # fmt: skip
REGENERATE_KEYS = Operation(
    "endpoints.regenerate_keys", "POST", "/api/v1/online-endpoints/{name}/keys/regenerate",
    summary="Replace one of an endpoint's scoring keys",
    role=Role.CONTRIBUTOR, action="regenerating endpoint keys",
    response=EndpointKeys, body=RegenerateKeys,
)  # fmt: skip

CREATE_DEPLOYMENT = Operation(
    "deployments.create", "POST", "/api/v1/online-endpoints/{name}/deployments",
    summary="Deploy a model behind an endpoint",
    description="The deployment starts; poll it until its state is 'succeeded' or 'failed'. "
    "``all_traffic``: it takes 100 % of the traffic once ready.",
    role=Role.CONTRIBUTOR, action="deploying models",
    response=OnlineDeploymentView, status_code=201, body=OnlineDeploymentSpec, query=("all_traffic",),
    errors=(AlreadyExists,),
)  # fmt: skip
LIST_DEPLOYMENTS = Operation(
    "deployments.list", "GET", "/api/v1/online-endpoints/{name}/deployments",
    summary="List an endpoint's deployments",
    role=Role.READER, action="listing deployments",
    response=list[OnlineDeploymentView],
)  # fmt: skip
SHOW_DEPLOYMENT = Operation(
    "deployments.show", "GET", "/api/v1/online-endpoints/{name}/deployments/{deployment}",
    summary="Read a deployment, its replicas and metrics",
    role=Role.READER, action="reading deployments",
    response=OnlineDeploymentView,
)  # fmt: skip
UPDATE_DEPLOYMENT = Operation(
    "deployments.update", "PUT", "/api/v1/online-endpoints/{name}/deployments/{deployment}",
    summary="Replace a deployment's spec",
    description="Its replicas are replaced one at a time.",
    role=Role.CONTRIBUTOR, action="updating deployments",
    response=OnlineDeploymentView, body=OnlineDeploymentSpec, errors=(Conflict,),
)  # fmt: skip
DELETE_DEPLOYMENT = Operation(
    "deployments.delete", "DELETE", "/api/v1/online-endpoints/{name}/deployments/{deployment}",
    summary="Delete a deployment",
    role=Role.CONTRIBUTOR, action="deleting deployments",
    response=NO_CONTENT, status_code=204, errors=(Conflict,),
)  # fmt: skip
DEPLOYMENT_LOGS = Operation(
    "deployments.logs", "GET", "/api/v1/online-endpoints/{name}/deployments/{deployment}/logs",
    summary="The last lines of a deployment's replica logs",
    role=Role.READER, action="reading deployment logs",
    response=DeploymentLogs, query=("lines",),
)  # fmt: skip
DEPLOYMENT_LINEAGE = Operation(
    "deployments.lineage", "GET", "/api/v1/online-endpoints/{name}/deployments/{deployment}/lineage",
    summary="A deployment's lineage",
    description="Upstream: the exact model version it serves, and what that came from.",
    role=Role.READER, action="reading lineage",
    response=LineageNode,
)  # fmt: skip

INVOKE = Operation(
    "endpoints.invoke", "POST", "/api/v1/online-endpoints/{name}/invoke",
    summary="Score a request through the endpoint's scoring URI, on the server's side",
    description="The request goes through the gateway as one with the endpoint's key would (traffic split, "
    "mirroring, metrics), so a browser can try an endpoint without holding its key.",
    role=Role.CONTRIBUTOR, action="scoring through endpoints",
    response=InvokeAnswer, body=InvokeRequest,
    audited=False,  # scoring changes nothing kept; the gateway's metrics count it
)  # fmt: skip
METRICS_STREAM = Operation(
    "endpoints.metrics_stream", "GET", "/api/v1/online-endpoints/{name}/metrics/stream",
    summary="The endpoint's live request metrics per deployment, as server-sent events",
    description="One ``snapshot`` event a second (JSON: per deployment its requests, errors, request and "
    "error rates over the last second, latency p50/p90/p99 in ms); ``snapshots`` ends the stream after that "
    "many (an EventSource reconnects on its own).",
    role=Role.READER, action="reading metrics",
    response=str, media_type=EVENT_STREAM, query=("snapshots",), limit="live",
)  # fmt: skip
METRICS = Operation(
    "metrics.prometheus", "GET", "/metrics",
    summary="The gateway's metrics, as Prometheus text",
    description="Per deployment: requests, errors, mirrored copies and latency histograms.",
    role=Role.READER, action="reading metrics",
    response=str, media_type=PROMETHEUS_TEXT,
)  # fmt: skip
