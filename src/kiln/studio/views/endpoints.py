"""Endpoints: the list (``/ui/endpoints``) and an endpoint's page (``/ui/endpoints/{name}``): its scoring URI,
deployments with state and replicas (a failed one's log tail), the traffic and mirror split (a form for
contributors that PATCHes ``endpoints.update``, as ``kiln online-endpoint update --traffic`` does), live
metrics per deployment (``endpoints.metrics_stream``), the latest rollout's steps live (``rollouts.show``), a test form (``endpoints.invoke``: the browser holds
no key) and, for owners, the keys on request (``endpoints.keys``). Scoring URIs themselves are under
``/endpoints/`` (the gateway), so these pages live under ``/ui/endpoints``."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.errors import KilnError
from kiln.rollout import api as rollout_api
from kiln.server.dependencies import Endpoints, Models
from kiln.server.permissions import Caller
from kiln.services.endpoints import EndpointService
from kiln.services.model_signature import example_request
from kiln.services.models import ModelService
from kiln.specs.endpoint import DeploymentState, OnlineEndpointView
from kiln.studio.rendering import render

LOG_LINES = 40  # of a failed deployment's replica logs, on its endpoint's page


def routes(router: APIRouter) -> None:
    @router.get("/ui/endpoints")
    def endpoint_list(request: Request, endpoints: Endpoints, principal: Caller) -> HTMLResponse:
        principal.ensure(api.endpoints.LIST.role, api.endpoints.LIST.action)
        return render(request, "endpoints/list.html", endpoints=endpoints.list_endpoints())

    @router.get("/ui/endpoints/{name}")
    def endpoint_page(
        request: Request, endpoints: Endpoints, models: Models, principal: Caller, name: str
    ) -> HTMLResponse:
        principal.ensure(api.endpoints.SHOW.role, api.endpoints.SHOW.action)
        view = endpoints.get_endpoint(name)
        return render(
            request, "endpoints/show.html", endpoint=view, failed_logs=failed_logs(endpoints, view),
            sample=sample_body(models, view), can_update=principal.role.allows(api.endpoints.UPDATE.role),
            can_invoke=principal.role.allows(api.endpoints.INVOKE.role),
            encrypted=[d.name for d in view.deployments if d.spec.get("encryption")],
            stream_url=api.endpoints.METRICS_STREAM.url(name=name),
            update_url=api.endpoints.UPDATE.url(name=name), invoke_url=api.endpoints.INVOKE.url(name=name),
            keys_url=api.endpoints.KEYS.url(name=name), rollout_url=rollout_api.SHOW.url(name=name),
        )  # fmt: skip


SAMPLE_BODY = '{"input_data": {"columns": ["x"], "data": [[1.0]]}}'  # where the model's signature gives no example


def sample_body(models: ModelService, view: OnlineEndpointView) -> str:
    """The test form's first body: one row in the columns of the model that takes the most traffic."""
    served = sorted(
        (d for d in view.deployments if d.model_name and d.model_version),
        key=lambda d: view.traffic.get(d.name, 0), reverse=True,
    )  # fmt: skip
    for deployment in served[:1]:
        try:
            example = example_request(models.signature(deployment.model_name, deployment.model_version))
        except KilnError:  # the version is gone: the endpoint's page still shows
            example = None
        if example is not None:
            return json.dumps(example)
    return SAMPLE_BODY


def failed_logs(endpoints: EndpointService, view: OnlineEndpointView) -> dict[str, str]:
    """The last lines of each failed deployment's replica logs (its failure reason where none are left)."""
    found = {}
    for deployment in view.deployments:
        if deployment.state == DeploymentState.FAILED:
            text = endpoints.logs(view.name, deployment.name, LOG_LINES)
            found[deployment.name] = text or deployment.failure_reason or "(no log was kept)"
    return found
