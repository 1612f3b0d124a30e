"""REST for online endpoints and deployments: /api/v1/online-endpoints; and /metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from kiln.server.permissions import requires
from kiln.server.routers import workspace_of
from kiln.services.credentials import Principal
from kiln.specs.endpoint import (
    EndpointKeys,
    EndpointUpdate,
    OnlineDeploymentSpec,
    OnlineDeploymentView,
    OnlineEndpointSpec,
    OnlineEndpointView,
)
from kiln.specs.model import LineageNode
from kiln.specs.users import Role


class RegenerateKeys(BaseModel):
    key_type: Literal["primary", "secondary"] = "primary"


class DeploymentLogs(BaseModel):
    logs: str


def endpoints_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/online-endpoints", tags=["online endpoints"])

    @router.post("", response_model=OnlineEndpointView, status_code=201)
    def create_endpoint(
        spec: OnlineEndpointSpec,
        request: Request,
        principal: Annotated[Principal, requires(Role.CONTRIBUTOR, "creating endpoints")],
    ) -> OnlineEndpointView:
        return workspace_of(request).endpoints.create_endpoint(spec, created_by=principal.name)

    @router.get("", response_model=list[OnlineEndpointView], dependencies=[requires(Role.READER, "listing endpoints")])
    def list_endpoints(request: Request) -> list[OnlineEndpointView]:
        return workspace_of(request).endpoints.list_endpoints()

    @router.get("/{name}", response_model=OnlineEndpointView, dependencies=[requires(Role.READER, "reading endpoints")])
    def show_endpoint(name: str, request: Request) -> OnlineEndpointView:
        return workspace_of(request).endpoints.get_endpoint(name)

    @router.patch(
        "/{name}", response_model=OnlineEndpointView, dependencies=[requires(Role.CONTRIBUTOR, "updating endpoints")]
    )
    def update_endpoint(name: str, body: EndpointUpdate, request: Request) -> OnlineEndpointView:
        return workspace_of(request).endpoints.update_endpoint(name, body)

    @router.delete("/{name}", status_code=204, dependencies=[requires(Role.CONTRIBUTOR, "deleting endpoints")])
    def delete_endpoint(name: str, request: Request) -> None:
        workspace_of(request).endpoints.delete_endpoint(name)

    @router.post(
        "/{name}/keys", response_model=EndpointKeys, dependencies=[requires(Role.CONTRIBUTOR, "reading endpoint keys")]
    )
    def list_keys(name: str, request: Request) -> EndpointKeys:
        """POST, not GET, so that no cache keeps the keys. A key lets its holder score: readers get none."""
        return workspace_of(request).endpoints.keys(name)

    @router.post(
        "/{name}/keys/regenerate",
        response_model=EndpointKeys,
        dependencies=[requires(Role.CONTRIBUTOR, "regenerating endpoint keys")],
    )
    def regenerate_keys(name: str, body: RegenerateKeys, request: Request) -> EndpointKeys:
        return workspace_of(request).endpoints.regenerate_key(name, body.key_type)

    @router.post("/{name}/deployments", response_model=OnlineDeploymentView, status_code=201)
    def create_deployment(
        name: str,
        spec: OnlineDeploymentSpec,
        request: Request,
        principal: Annotated[Principal, requires(Role.CONTRIBUTOR, "deploying models")],
        all_traffic: bool = False,
    ) -> OnlineDeploymentView:
        if spec.endpoint_name != name:
            spec = spec.model_copy(update={"endpoint_name": name})
        return workspace_of(request).endpoints.create_deployment(spec, all_traffic, created_by=principal.name)

    @router.get(
        "/{name}/deployments",
        response_model=list[OnlineDeploymentView],
        dependencies=[requires(Role.READER, "listing deployments")],
    )
    def list_deployments(name: str, request: Request) -> list[OnlineDeploymentView]:
        return workspace_of(request).endpoints.list_deployments(name)

    @router.get(
        "/{name}/deployments/{deployment}", response_model=OnlineDeploymentView,
        dependencies=[requires(Role.READER, "reading deployments")],
    )  # fmt: skip
    def show_deployment(name: str, deployment: str, request: Request) -> OnlineDeploymentView:
        return workspace_of(request).endpoints.get_deployment(name, deployment)

    @router.put(
        "/{name}/deployments/{deployment}", response_model=OnlineDeploymentView,
        dependencies=[requires(Role.CONTRIBUTOR, "updating deployments")],
    )  # fmt: skip
    def update_deployment(
        name: str, deployment: str, spec: OnlineDeploymentSpec, request: Request
    ) -> OnlineDeploymentView:
        return workspace_of(request).endpoints.update_deployment(name, deployment, spec)

    @router.delete(
        "/{name}/deployments/{deployment}",
        status_code=204,
        dependencies=[requires(Role.CONTRIBUTOR, "deleting deployments")],
    )
    def delete_deployment(name: str, deployment: str, request: Request) -> None:
        workspace_of(request).endpoints.delete_deployment(name, deployment)

    @router.get(
        "/{name}/deployments/{deployment}/logs", response_model=DeploymentLogs,
        dependencies=[requires(Role.READER, "reading deployment logs")],
    )  # fmt: skip
    def deployment_logs(
        name: str, deployment: str, request: Request, lines: int = Query(100, ge=1, le=100_000)
    ) -> DeploymentLogs:
        return DeploymentLogs(logs=workspace_of(request).endpoints.logs(name, deployment, lines))

    @router.get(
        "/{name}/deployments/{deployment}/lineage", response_model=LineageNode,
        dependencies=[requires(Role.READER, "reading lineage")],
    )  # fmt: skip
    def deployment_lineage(name: str, deployment: str, request: Request) -> LineageNode:
        return workspace_of(request).lineage.deployment(name, deployment)

    return router


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["online endpoints"])

    @router.get("/metrics", response_class=PlainTextResponse, dependencies=[requires(Role.READER, "reading metrics")])
    def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text: per-deployment requests, errors, mirrored copies and latency histograms."""
        text = workspace_of(request).gateway_metrics.exposition()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    return router
