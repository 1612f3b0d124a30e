"""REST for online endpoints and deployments (``kiln.api.endpoints``), and the gateway's /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from kiln import api
from kiln.api.endpoints import PROMETHEUS_TEXT, DeploymentLogs, RegenerateKeys
from kiln.server.permissions import Caller
from kiln.server.routers import workspace_of
from kiln.server.routes import bind
from kiln.specs.endpoint import (
    EndpointKeys,
    EndpointUpdate,
    OnlineDeploymentSpec,
    OnlineDeploymentView,
    OnlineEndpointSpec,
    OnlineEndpointView,
)
from kiln.specs.model import LineageNode


def endpoints_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.endpoints.CREATE)
    def create_endpoint(spec: OnlineEndpointSpec, request: Request, principal: Caller) -> OnlineEndpointView:
        return workspace_of(request).endpoints.create_endpoint(spec, created_by=principal.name)

    @bind(router, api.endpoints.LIST)
    def list_endpoints(request: Request) -> list[OnlineEndpointView]:
        return workspace_of(request).endpoints.list_endpoints()

    @bind(router, api.endpoints.SHOW)
    def show_endpoint(name: str, request: Request) -> OnlineEndpointView:
        return workspace_of(request).endpoints.get_endpoint(name)

    @bind(router, api.endpoints.UPDATE)
    def update_endpoint(name: str, body: EndpointUpdate, request: Request) -> OnlineEndpointView:
        return workspace_of(request).endpoints.update_endpoint(name, body)

    @bind(router, api.endpoints.DELETE)
    def delete_endpoint(name: str, request: Request) -> None:
        workspace_of(request).endpoints.delete_endpoint(name)

    @bind(router, api.endpoints.KEYS)
    def list_keys(name: str, request: Request) -> EndpointKeys:
        return workspace_of(request).endpoints.keys(name)

    @bind(router, api.endpoints.REGENERATE_KEYS)
    def regenerate_keys(name: str, body: RegenerateKeys, request: Request) -> EndpointKeys:
        return workspace_of(request).endpoints.regenerate_key(name, body.key_type)

    @bind(router, api.endpoints.CREATE_DEPLOYMENT)
    def create_deployment(
        name: str, spec: OnlineDeploymentSpec, request: Request, principal: Caller, all_traffic: bool = False
    ) -> OnlineDeploymentView:
        if spec.endpoint_name != name:
            spec = spec.model_copy(update={"endpoint_name": name})
        return workspace_of(request).endpoints.create_deployment(spec, all_traffic, created_by=principal.name)

    @bind(router, api.endpoints.LIST_DEPLOYMENTS)
    def list_deployments(name: str, request: Request) -> list[OnlineDeploymentView]:
        return workspace_of(request).endpoints.list_deployments(name)

    @bind(router, api.endpoints.SHOW_DEPLOYMENT)
    def show_deployment(name: str, deployment: str, request: Request) -> OnlineDeploymentView:
        return workspace_of(request).endpoints.get_deployment(name, deployment)

    @bind(router, api.endpoints.UPDATE_DEPLOYMENT)
    def update_deployment(
        name: str, deployment: str, spec: OnlineDeploymentSpec, request: Request
    ) -> OnlineDeploymentView:
        return workspace_of(request).endpoints.update_deployment(name, deployment, spec)

    @bind(router, api.endpoints.DELETE_DEPLOYMENT)
    def delete_deployment(name: str, deployment: str, request: Request) -> None:
        workspace_of(request).endpoints.delete_deployment(name, deployment)

    @bind(router, api.endpoints.DEPLOYMENT_LOGS)
    def deployment_logs(
        name: str, deployment: str, request: Request, lines: int = Query(100, ge=1, le=100_000)
    ) -> DeploymentLogs:
        return DeploymentLogs(logs=workspace_of(request).endpoints.logs(name, deployment, lines))

    @bind(router, api.endpoints.DEPLOYMENT_LINEAGE)
    def deployment_lineage(name: str, deployment: str, request: Request) -> LineageNode:
        return workspace_of(request).lineage.deployment(name, deployment)

    @bind(router, api.endpoints.METRICS)
    def metrics(request: Request) -> PlainTextResponse:
        text = workspace_of(request).gateway_metrics.exposition()
        return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)

    return router
