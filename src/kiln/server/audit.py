"""Every change made through the REST API is appended to the audit log, here, in one place.

``kiln.server.routes.bind`` gives each route whose operation changes the workspace (any method but GET,
unless the operation says ``audited=False``) the route class below: after its handler succeeded, one
entry is appended with who asked (the user and the credential), the operation, the resource's kind, name
and version, a small detail and where the request came from. A new route is audited by being declared;
``tests/unit/server/test_audit_coverage.py`` lists the few operations that are not (they change nothing).

The detail never holds a secret: it names the other path parameters, the query options given, which
fields a body set, and the values of a few fields known to be harmless (``SHOWN_FIELDS``: traffic, a role,
a key type…); never a body's other values, never an answer's but its name and version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from kiln.api.operation import Operation
from kiln.server.auth import SESSION_SCOPE_KEY
from kiln.server.permissions import principal_of
from kiln.services.audit import AuditLog, Change, Origin
from kiln.services.credentials import Principal

log = logging.getLogger(__name__)

SHOWN_FIELDS = frozenset({
    "type", "role", "traffic", "mirror_traffic", "key_type", "auth_mode", "instance_count", "instance_type",
    "model", "environment", "compute", "experiment_name", "epsilon", "delta", "to", "rows", "synthesizer",
})  # fmt: skip
"""Body fields whose values an entry shows (when they are plain values, or a small map of them)."""
_NAMES = ("name", "version")
_MAX_TEXT = 200
_MAX_ITEMS = 32
_MAX_ANSWER = 1 << 20  # an answer longer than this is not read for its name


def audits(operation: Operation[Any]) -> bool:
    """Whether a success of ``operation`` is appended to the audit log: every change (a method other than
    GET) unless its declaration says it changes nothing kept (``audited=False``)."""
    return operation.method != "GET" and operation.audited


def audited_route(operation: Operation[Any]) -> type[APIRoute]:
    """The route class that appends ``operation``'s successes to the audit log."""
    return type("AuditedRoute", (AuditedRoute,), {"operation": operation})


class AuditedRoute(APIRoute):
    operation: Operation[Any]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        operation = self.operation

        async def handle_and_record(request: Request) -> Response:
            response = await handle(request)
            if response.status_code < 300:
                await _record(operation, request, response)
            return response

        return handle_and_record


async def _record(operation: Operation[Any], request: Request, response: Response) -> None:
    audit: AuditLog | None = getattr(getattr(request.app.state, "workspace", None), "audit", None)
    if audit is None:  # an app whose workspace has no log (a unit test's stand-in)
        return
    body = await _json_body(operation, request)
    change = describe_change(operation, request.path_params, request.query_params, body, _answer(response))
    try:
        await run_in_threadpool(audit.record, change, origin_of(request))
    except Exception:  # the change is made; say loudly that its entry is missing, do not fail the request
        log.exception("the audit log could not record %s on %s %s", operation.name, change.kind, change.name)


def describe_change(
    operation: Operation[Any], path: Mapping[str, str], query: Mapping[str, str], body: Any, answer: Any,
) -> Change:  # fmt: skip
    """What ``operation`` changed: the resource's kind (its tag, singular), name and version (from the path,
    else the query, the answer, the body), and the detail."""
    body = body if isinstance(body, dict) else {}
    answer = answer if isinstance(answer, dict) else {}
    found = {key: _first(path.get(key), query.get(key), answer.get(key), body.get(key)) for key in _NAMES}
    detail: dict[str, Any] = {key: value for key, value in path.items() if key not in _NAMES}
    detail.update({key: query[key] for key in operation.query if key in query and key not in _NAMES})
    if isinstance(answer.get("name"), str) and answer["name"] != found["name"]:
        detail["result"] = answer["name"]  # what it made under the name: a deployment, a rerun's new job
    if body:
        detail["fields"] = sorted(key for key in body if key != "$schema")[:_MAX_ITEMS]
        shown = {key: _shown(body[key]) for key in sorted(SHOWN_FIELDS & set(body))}
        detail.update({key: value for key, value in shown.items() if value is not None})
    return Change(operation.name, _kind(operation), found["name"], found["version"], detail)


def origin_of(request: Request) -> Origin:
    principal = principal_of(request)
    client = request.client.host if request.client is not None else None
    return Origin(principal.name, _via(principal, request), client, request.headers.get("user-agent"))


def _via(principal: Principal, request: Request) -> str:
    if principal.job_id is not None:
        return f"job {principal.job_id}"
    credential = f"token {principal.token_id}" if principal.token_id is not None else "workspace token"
    return f"studio ({credential})" if SESSION_SCOPE_KEY in request.scope else credential


def _kind(operation: Operation[Any]) -> str:
    tag = operation.tag
    return tag[:-1] if tag.endswith("s") else tag  # jobs → job, data → data, privacy → privacy


def _first(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:_MAX_TEXT]
    return None


def _shown(value: Any) -> Any:
    """A plain value as it is (text cut short), a small map of plain values as it is, anything else None."""
    if isinstance(value, str):
        return value[:_MAX_TEXT]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict) and len(value) <= _MAX_ITEMS:
        plain = {str(k)[:_MAX_TEXT]: v for k, v in value.items() if isinstance(v, bool | int | float | str)}
        return plain if len(plain) == len(value) else None
    return None


async def _json_body(operation: Operation[Any], request: Request) -> Any:
    if operation.body is None:  # no JSON body (a raw one, streamed by the handler, is never read here)
        return None
    try:
        return await request.json()  # read and kept by FastAPI for the handler
    except (ValueError, RuntimeError):
        return None


def _answer(response: Response) -> Any:
    body = getattr(response, "body", None)  # a streamed answer has none
    if not isinstance(body, bytes) or not body or len(body) > _MAX_ANSWER:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
