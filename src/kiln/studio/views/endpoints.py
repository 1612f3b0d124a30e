"""Endpoints: the list (``/ui/endpoints``) and an endpoint's page (``/ui/endpoints/{name}``): its scoring URI,
deployments with state and replicas (a failed one's log tail), the traffic and mirror split (a form for
contributors that PATCHes ``endpoints.update``, as ``kiln online-endpoint update --traffic`` does), live
metrics per deployment (``endpoints.metrics_stream``), a test form (``endpoints.invoke``: the browser holds
no key) and, for owners, the keys on request (``endpoints.keys``). Scoring URIs themselves are under
``/endpoints/`` (the gateway), so these pages live under ``/ui/endpoints``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.server.dependencies import Endpoints
from kiln.server.permissions import Caller
from kiln.services.endpoints import EndpointService
from kiln.specs.endpoint import DeploymentState, OnlineEndpointView
from kiln.studio.rendering import render

LOG_LINES = 40  # of a failed deployment's replica logs, on its endpoint's page


def routes(router: APIRouter) -> None:
    @router.get("/ui/endpoints")
    def endpoint_list(request: Request, endpoints: Endpoints, principal: Caller) -> HTMLResponse:
        principal.ensure(api.endpoints.LIST.role, api.endpoints.LIST.action)
        return render(request, "endpoints/list.html", endpoints=endpoints.list_endpoints())

    @router.get("/ui/endpoints/{name}")
    def endpoint_page(request: Request, endpoints: Endpoints, principal: Caller, name: str) -> HTMLResponse:
        principal.ensure(api.endpoints.SHOW.role, api.endpoints.SHOW.action)
        view = endpoints.get_endpoint(name)
        return render(
            request, "endpoints/show.html", endpoint=view, failed_logs=failed_logs(endpoints, view),
            sample=SAMPLE_BODY, can_update=principal.role.allows(api.endpoints.UPDATE.role),
            can_invoke=principal.role.allows(api.endpoints.INVOKE.role),
            stream_url=api.endpoints.METRICS_STREAM.url(name=name),
            update_url=api.endpoints.UPDATE.url(name=name), invoke_url=api.endpoints.INVOKE.url(name=name),
            keys_url=api.endpoints.KEYS.url(name=name),
        )  # fmt: skip


SAMPLE_BODY = '{"input_data": {"columns": ["x"], "data": [[1.0]]}}'


def failed_logs(endpoints: EndpointService, view: OnlineEndpointView) -> dict[str, str]:
    """The last lines of each failed deployment's replica logs (its failure reason where none are left)."""
    found = {}
    for deployment in view.deployments:
        if deployment.state == DeploymentState.FAILED:
            text = endpoints.logs(view.name, deployment.name, LOG_LINES)
            found[deployment.name] = text or deployment.failure_reason or "(no log was kept)"
    return found
