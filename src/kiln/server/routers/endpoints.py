"""REST for online endpoints and deployments (``kiln.api.endpoints``), and the gateway's /metrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse

from kiln import api
from kiln.api.endpoints import (
    PROMETHEUS_TEXT,
    DeploymentLogs,
    InvokeAnswer,
    InvokeRequest,
    RegenerateKeys,
)
from kiln.api.operation import EVENT_STREAM, sse_event
from kiln.server.dependencies import Endpoints, GatewayCounters, Lineage, ScoringGateway
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.serving.control.gateway import DEPLOYMENT_HEADER
from kiln.serving.control.gateway_metrics import LiveFeed
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
    def create_endpoint(endpoints: Endpoints, spec: OnlineEndpointSpec, principal: Caller) -> OnlineEndpointView:
        return endpoints.create_endpoint(spec, created_by=principal.name)

    @bind(router, api.endpoints.LIST)
    def list_endpoints(endpoints: Endpoints) -> list[OnlineEndpointView]:
        return endpoints.list_endpoints()

    @bind(router, api.endpoints.SHOW)
    def show_endpoint(endpoints: Endpoints, name: str) -> OnlineEndpointView:
        return endpoints.get_endpoint(name)

    @bind(router, api.endpoints.UPDATE)
    def update_endpoint(endpoints: Endpoints, name: str, body: EndpointUpdate) -> OnlineEndpointView:
        return endpoints.update_endpoint(name, body)

    @bind(router, api.endpoints.DELETE)
    def delete_endpoint(endpoints: Endpoints, name: str) -> None:
        endpoints.delete_endpoint(name)

    @bind(router, api.endpoints.KEYS)
    def list_keys(endpoints: Endpoints, name: str) -> EndpointKeys:
        return endpoints.keys(name)

    @bind(router, api.endpoints.REGENERATE_KEYS)
    def regenerate_keys(endpoints: Endpoints, name: str, body: RegenerateKeys) -> EndpointKeys:
        return endpoints.regenerate_key(name, body.key_type)

    @bind(router, api.endpoints.CREATE_DEPLOYMENT)
    def create_deployment(
        endpoints: Endpoints, name: str, spec: OnlineDeploymentSpec, principal: Caller, all_traffic: bool = False
    ) -> OnlineDeploymentView:
        if spec.endpoint_name != name:
            spec = spec.model_copy(update={"endpoint_name": name})
        return endpoints.create_deployment(spec, all_traffic, created_by=principal.name)

    @bind(router, api.endpoints.LIST_DEPLOYMENTS)
    def list_deployments(endpoints: Endpoints, name: str) -> list[OnlineDeploymentView]:
        return endpoints.list_deployments(name)

    @bind(router, api.endpoints.SHOW_DEPLOYMENT)
    def show_deployment(endpoints: Endpoints, name: str, deployment: str) -> OnlineDeploymentView:
        return endpoints.get_deployment(name, deployment)

    @bind(router, api.endpoints.UPDATE_DEPLOYMENT)
    def update_deployment(
        endpoints: Endpoints,
        name: str,
        deployment: str,
        spec: OnlineDeploymentSpec,
    ) -> OnlineDeploymentView:
        return endpoints.update_deployment(name, deployment, spec)

    @bind(router, api.endpoints.DELETE_DEPLOYMENT)
    def delete_deployment(endpoints: Endpoints, name: str, deployment: str) -> None:
        endpoints.delete_deployment(name, deployment)

    @bind(router, api.endpoints.DEPLOYMENT_LOGS)
    def deployment_logs(
        endpoints: Endpoints, name: str, deployment: str, lines: int = Query(100, ge=1, le=100_000)
    ) -> DeploymentLogs:
        return DeploymentLogs(logs=endpoints.logs(name, deployment, lines))

    @bind(router, api.endpoints.DEPLOYMENT_LINEAGE)
    def deployment_lineage(lineage: Lineage, name: str, deployment: str) -> LineageNode:
        return lineage.deployment(name, deployment)

    @bind(router, api.endpoints.INVOKE)
    async def invoke_endpoint(
        endpoints: Endpoints, gateway: ScoringGateway, name: str, body: InvokeRequest
    ) -> InvokeAnswer:
        await run_in_threadpool(endpoints.get_endpoint, name)  # NotFound names the endpoint
        sent = json.dumps(body.body).encode()
        status, headers, answer = await gateway.score_on_server(name, sent, body.deployment)
        try:
            parsed: Any = json.loads(answer)
        except ValueError:
            parsed = answer.decode("utf-8", "replace")
        return InvokeAnswer(status=status, deployment=headers.get(DEPLOYMENT_HEADER), body=parsed)

    @bind(router, api.endpoints.METRICS_STREAM)
    async def metrics_stream(
        endpoints: Endpoints, gateway_metrics: GatewayCounters, name: str,
        snapshots: int = Query(STREAM_SNAPSHOTS, ge=1, le=STREAM_SNAPSHOTS),
    ) -> StreamingResponse:  # fmt: skip
        view = await run_in_threadpool(endpoints.get_endpoint, name)
        feed = gateway_metrics.live(name, [deployment.name for deployment in view.deployments])
        headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
        return StreamingResponse(_events(feed, snapshots), media_type=EVENT_STREAM, headers=headers)

    @bind(router, api.endpoints.METRICS)
    def metrics(gateway_metrics: GatewayCounters) -> PlainTextResponse:
        text = gateway_metrics.exposition()
        return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)

    return router


STREAM_SNAPSHOTS = 600  # a stream's most snapshots (10 minutes); an EventSource then reconnects on its own
SNAPSHOT_SECONDS = 1.0


async def _events(feed: LiveFeed, snapshots: int) -> AsyncIterator[str]:
    """``snapshot`` events, one a second: the first at once, so a page has numbers as soon as it opens."""
    yield "retry: 2000\n\n"
    for count in range(snapshots):
        if count:
            await asyncio.sleep(SNAPSHOT_SECONDS)
        yield sse_event("snapshot", json.dumps(feed.snapshot(time.monotonic())))
