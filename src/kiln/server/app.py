"""``create_app(settings)``: the workspace server as an ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kiln import __version__
from kiln.artifacts.signed_urls import SignedUrls
from kiln.capabilities import load_capabilities, rest_contract
from kiln.config import Settings
from kiln.errors import InvalidSpec, KilnError
from kiln.server.api_docs import serve_api_docs
from kiln.server.auth import BearerPrincipals, TokenAuthMiddleware, load_or_create_token, scoring_token_check
from kiln.server.capabilities import include_capability_routers
from kiln.server.health import HealthCheck
from kiln.server.limits import size_thread_pool
from kiln.server.mlflow_gate import WaitForMlflow
from kiln.server.permissions import default_access, tracking_access
from kiln.server.routers.audit import audit_router
from kiln.server.routers.computes import computes_router
from kiln.server.routers.data import data_router
from kiln.server.routers.datastores import datastores_router
from kiln.server.routers.endpoints import endpoints_router
from kiln.server.routers.environments import environments_router
from kiln.server.routers.jobs import jobs_router
from kiln.server.routers.models import models_router
from kiln.server.routers.users import users_router
from kiln.server.routers.workspace import workspace_router
from kiln.server.routes import OneSegmentNames
from kiln.server.schemas import serve_schemas
from kiln.server.signed_files import SignedFiles
from kiln.services.browser_sessions import BrowserSessions
from kiln.services.credentials import CredentialVerifier
from kiln.serving.control.gateway import EndpointGateway, ScoringFastPath
from kiln.serving.control.heap import freeze_loaded, settle_after_start
from kiln.specs.yaml_source import explain_errors
from kiln.studio.errors import PAGE_PROBLEMS, error_page, is_page, kiln_error_page
from kiln.studio.pages import studio_pages
from kiln.studio.router import studio_router
from kiln.tracking.mlflow_client import warm_up_soon
from kiln.tracking.mlflow_import import guard_first_import
from kiln.tracking.mlflow_server import START_SECONDS
from kiln.tracking.mlflow_store import mlflow_store_uri
from kiln.tracking.proxy import MlflowPath, MlflowProxy

log = logging.getLogger(__name__)
_UNREADABLE_BODY = "There was an error parsing the body"  # FastAPI's detail for a body that is not UTF-8


def create_app(
    settings: Settings,
    url: str | None = None,
    on_ready: Callable[[], None] | None = None,
    stores: Any = None,
    mlflow: Any = None,
) -> FastAPI:
    """The app for one workspace. ``url`` is how jobs reach this server (default host:port);
    ``stores`` are its databases if already opened (``kiln.server.stores.open_stores``), ``mlflow`` its
    MLflow child if already launched (``kiln.server.stores.launch_mlflow``). It answers once its own parts
    are up; MLflow may still be starting then (``/health`` says so, ``/mlflow`` waits for it)."""
    guard_first_import()  # before any thread of the server may import MLflow (kiln.tracking.mlflow_import)
    capabilities = load_capabilities(settings.plugin_modules)  # first: they register job kinds
    public_url = url or f"http://{settings.host}:{settings.port}"
    token = load_or_create_token(settings.token_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from kiln.server.wiring import Workspace

        size_thread_pool()
        workspace = await run_in_threadpool(Workspace.open, settings, public_url, stores, mlflow)
        app.state.workspace = workspace
        # the scoring gateway lives here: no full collection over start-up's heap (kiln.serving.control.heap)
        settle_after_start()
        if on_ready:
            on_ready()
        # MLflow's client imported once MLflow answers, not in the first request that needs it; then frozen too
        warm_up_soon(lambda: workspace.mlflow.wait_ready(START_SECONDS), then=freeze_loaded)
        try:
            yield
        finally:
            await proxy.aclose()
            await gateway.aclose()
            await run_in_threadpool(workspace.close)

    # every API route is bound to its operation in kiln.api (kiln.server.routes), which states the role it
    # needs (kiln.server.permissions); a route that states none gets default_access
    app = FastAPI(
        title="kiln workspace", version=__version__, lifespan=lifespan, dependencies=[Depends(default_access)],
        docs_url=None, redoc_url=None,  # /docs is kiln's own, served offline (kiln.server.api_docs)
    )  # fmt: skip
    serve_api_docs(app)
    serve_schemas(app)  # /schemas/<kind>.json for editors (kiln.server.schemas)
    proxy = MlflowProxy(
        lambda: app.state.workspace.mlflow.url,
        tracking_access(lambda: app.state.workspace.jobs),
        mlflow_store_uri(settings),
    )
    app.state.bearer_principals = BearerPrincipals(token, lambda: _credentials(app))  # the studio's sign-in
    gateway = EndpointGateway(
        lambda: app.state.workspace.endpoint_routes,
        lambda: app.state.workspace.gateway_metrics,
        user_token=scoring_token_check(BearerPrincipals(token, lambda: _credentials(app))),
    )
    app.state.endpoint_gateway = gateway  # endpoints.invoke scores through it on the server's side

    @app.exception_handler(KilnError)
    async def kiln_error(request: Request, exc: KilnError) -> Response:
        if is_page(request):  # a studio page: the refusal as a page
            return kiln_error_page(request, exc)
        return JSONResponse(exc.to_json(), status_code=exc.http_status, headers=exc.http_headers())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:  # FastAPI's answer to a body it cannot decode
            error = InvalidSpec(
                "the request body could not be read: send JSON in UTF-8 (Content-Type: application/json)"
            )
            return JSONResponse(error.to_json(), status_code=error.http_status)
        if is_page(request):
            return error_page(request, exc.status_code, PAGE_PROBLEMS.get(exc.status_code, str(exc.detail)))
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        """Starlette logs it and answers; a studio page gets a page saying so (never the trace)."""
        if is_page(request):
            return error_page(
                request, 500, "kiln studio hit an internal error; the workspace server's log has the details."
            )
        return PlainTextResponse("Internal Server Error", status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> Response:
        error = _request_validation_error(exc)
        if is_page(request):  # a studio page's address with a missing or bad parameter
            return kiln_error_page(request, error)
        return JSONResponse(error.to_json(), status_code=error.http_status)

    app.include_router(jobs_router())  # its body lists the job kinds registered by now
    app.include_router(environments_router())
    app.include_router(data_router())
    app.include_router(models_router())
    app.include_router(endpoints_router())
    app.include_router(users_router())
    app.include_router(computes_router())
    app.include_router(datastores_router())
    app.include_router(workspace_router())
    app.include_router(audit_router())
    include_capability_routers(app, capabilities)
    app.state.studio_pages = studio_pages(capabilities)
    app.include_router(studio_router(app.state.studio_pages))  # kiln studio: /ui, /login, /logout (kiln.studio)
    app.state.operations = rest_contract(capabilities)  # the contract this app serves (kiln.api + capabilities)
    app.add_middleware(OneSegmentNames)
    app.add_middleware(MlflowPath, proxy=proxy)  # /mlflow: past FastAPI's routing, once the token is checked
    app.add_middleware(WaitForMlflow, mlflow=lambda: _mlflow(app))  # after authentication: callers only
    app.add_middleware(
        TokenAuthMiddleware, token=token, users=lambda: _credentials(app), sessions=lambda: _browser_sessions(app)
    )
    app.add_middleware(ScoringFastPath, gateway=gateway)  # scoring URIs use endpoint keys
    app.add_middleware(SignedFiles, signed_urls=lambda: _signed_urls(app))  # their own signature, no token
    app.add_middleware(  # outermost
        HealthCheck, ready=lambda: getattr(app.state, "workspace", None) is not None,
        mlflow_state=lambda: mlflow.state if (mlflow := _mlflow(app)) is not None else "starting",
    )  # fmt: skip
    return app


def _mlflow(app: FastAPI) -> Any:
    """The workspace's MLflow supervisor, once the workspace is open (None before)."""
    workspace = getattr(app.state, "workspace", None)
    return workspace.mlflow if workspace is not None else None


def _signed_urls(app: FastAPI) -> SignedUrls | None:
    workspace = getattr(app.state, "workspace", None)
    return workspace.signed_urls if workspace is not None else None


def _credentials(app: FastAPI) -> CredentialVerifier | None:
    """Users' tokens are checked once the workspace (and its database) is open."""
    workspace = getattr(app.state, "workspace", None)
    return workspace.users.verifier if workspace is not None else None


def _browser_sessions(app: FastAPI) -> BrowserSessions | None:
    workspace = getattr(app.state, "workspace", None)
    return workspace.browser_sessions if workspace is not None else None


def _request_validation_error(exc: RequestValidationError) -> KilnError:
    """FastAPI's 422 in the workspace's error shape, with the same wording as the CLI's."""
    errors = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if loc and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        errors.append({**err, "loc": loc})
    return explain_errors(errors)
