"""Router handlers bound to the REST contract (``kiln.api``): no route is declared by hand.

::

    @bind(router, api.jobs.CREATE)
    def create_job(spec: CommandJobSpec, request: Request, principal: Caller) -> JobView: ...

``bind`` registers the handler on the operation's method and path, with its status code,
response model, the role it needs (``kiln.server.permissions.requires``, so a refusal names the
operation's action), the audit log for a change (``kiln.server.audit``), and what the OpenAPI
document says of it: its id, summary, description with the role, the error answers in the
``{"error": {"type", "message"}}`` shape, and the bearer token (or browser session) it takes.
The handler itself declares only what it reads: path, query and body parameters, which a test
checks against the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from kiln.api.operation import EVENT_STREAM, NDJSON, NO_CONTENT, SSE_EVENT, ErrorBody, Operation
from kiln.api.paths import API_PREFIX
from kiln.errors import Forbidden, KilnError, NotFound
from kiln.server.audit import audited_route, audits
from kiln.server.auth import SESSION_COOKIE
from kiln.server.limits import limit_per_user, take_turn
from kiln.server.permissions import requires

Handler = TypeVar("Handler", bound=Callable[..., Any])

# Authentication is done by the middleware (kiln.server.auth) before any route runs; these two
# only say so in the OpenAPI document (and let /docs send a token). They never refuse anything.
_BEARER = HTTPBearer(
    scheme_name="bearerToken",
    description="A user's API token (kiln user token create), or the workspace token in KILN_HOME/token.",
    auto_error=False,
)
_SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="browserSession",
    description="Set by signing in at /login with a token.",
    auto_error=False,
)
_API_PATH_PREFIX = (API_PREFIX + "/").encode()


def bind(router: APIRouter, operation: Operation[Any]) -> Callable[[Handler], Handler]:
    """Register the decorated handler as ``operation`` on ``router``."""

    def register(handler: Handler) -> Handler:
        answer: dict[str, Any] = {}
        if not operation.is_json:  # streamed: the handler builds the response, _responses documents it
            answer["response_class"] = Response
        elif operation.response is not NO_CONTENT:
            answer["response_model"] = operation.response
        dependencies = [requires(operation.role, operation.action), Depends(_BEARER), Depends(_SESSION)]
        # after the role check: a refused request takes no slot and no turn
        dependencies.append(limit_per_user(operation.limit) if operation.limit else take_turn())
        router.add_api_route(
            operation.path,
            handler,
            methods=[operation.method],
            status_code=operation.status_code,
            **answer,
            dependencies=dependencies,
            summary=operation.summary,
            description=describe(operation),
            operation_id=operation.name,
            tags=[operation.tag],
            responses=_responses(operation),
            openapi_extra=_openapi_extra(operation),
            route_class_override=audited_route(operation) if audits(operation) else None,
        )
        return handler

    return register


def describe(operation: Operation[Any]) -> str:
    """The operation's description, ending with the role it needs (what /docs and a web UI show)."""
    needs = f"**Needs role:** `{operation.role.value}` ({operation.role.and_above()}), for {operation.action}."
    return f"{operation.description}\n\n{needs}" if operation.description else needs


def _responses(operation: Operation[Any]) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {}
    if not operation.is_json:
        text = operation.media_type.startswith("text/") or operation.media_type == NDJSON
        schema = {"type": "string"} if text else {"type": "string", "format": "binary"}
        if operation.media_type == EVENT_STREAM:
            schema = SSE_EVENT  # each event, as OpenAPI describes a stream of server-sent events
        responses[operation.status_code] = {
            "description": operation.summary,
            "content": {operation.media_type: {"schema": schema}},
        }
    if operation.response_headers:
        headers = {
            name: {"description": text, "schema": {"type": "string"}} for name, text in operation.response_headers
        }
        responses.setdefault(operation.status_code, {})["headers"] = headers
    for status in operation.also_answers:
        responses[status] = {"model": operation.response, "description": operation.summary}
    for status, errors in operation.error_statuses.items():
        responses[status] = {"model": ErrorBody, "description": "; ".join(_meaning(e, operation) for e in errors)}
    return responses


def _meaning(error: type[KilnError], operation: Operation[Any]) -> str:
    if error is Forbidden:
        return f"Forbidden: {operation.action} needs {operation.role.and_above()}"
    doc = (vars(error).get("__doc__") or "").strip().split("\n")[0]  # its own docstring, not KilnError's
    return f"{error.__name__}: {doc}" if doc else error.__name__


def _openapi_extra(operation: Operation[Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {"x-kiln-role": operation.role.value, "x-kiln-action": operation.action}
    if operation.raw_body is not None:
        extra["requestBody"] = {
            "required": True,
            "content": {operation.raw_body: {"schema": {"type": "string", "format": "binary"}}},
        }
    return extra


def app_routes(app: FastAPI) -> list[tuple[str, str, str | None]]:
    """(method, path, operation id) of each FastAPI route of the app, in order: what a test
    compares with ``kiln.api.operations()``."""
    try:  # newer FastAPI keeps an included router as one entry and resolves its routes lazily
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI copies the routes into the app
        routes = [(route.path, route) for route in app.routes if isinstance(route, APIRoute)]
    else:
        routes = [
            (str(context.path), context.original_route)
            for context in iter_route_contexts(app.routes)
            if isinstance(context.original_route, APIRoute)
        ]
    return [(method, path, route.operation_id) for path, route in routes for method in sorted(route.methods or ())]


class OneSegmentNames:
    """ASGI: a name in an API path is one segment, whatever it holds.

    The SDK escapes a '/' in a name as '%2F' (``Operation.url``), but the server decodes the path
    before routing, so ``jobs/x%2Flogs`` would reach the route of ``jobs/{name}/logs``. No name in a
    workspace may hold a '/', so such a request is answered 404 here, in the API's error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") or b""
        if scope["type"] == "http" and raw_path.startswith(_API_PATH_PREFIX) and b"%2f" in raw_path.lower():
            error = NotFound(f"no name in this workspace holds a '/': {unquote(raw_path.decode('latin-1'))}")
            await JSONResponse(error.to_json(), status_code=error.http_status)(scope, receive, send)
            return
        await self.app(scope, receive, send)
