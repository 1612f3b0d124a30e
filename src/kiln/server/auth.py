"""Authentication: a Bearer token for programs, a session cookie for browsers.

The workspace token (KILN_HOME/token) is the bootstrap owner's credential; users' API
tokens work the same way and carry their user's role (``kiln.services.credentials``).
Pure ASGI middleware (no per-request task switching), because every MLflow call a job
makes passes through it. Which role a route needs is decided by ``kiln.server.permissions``.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from functools import partial
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool

from kiln.authorization import bearer_credential
from kiln.errors import Forbidden, KilnError, Unauthorized
from kiln.server.permissions import PRINCIPAL_SCOPE_KEY, SAFE_METHODS
from kiln.services.browser_sessions import CSRF_HEADER, BrowserSessions
from kiln.services.credentials import UNKNOWN_TOKEN, WORKSPACE_OWNER, CredentialVerifier, Principal
from kiln.specs.users import Role

SESSION_COOKIE = "kiln_session"
SESSION_SCOPE_KEY = "kiln.session"  # the browser session's cookie, when a request was signed by one
CSRF_HEADER_BYTES = CSRF_HEADER.encode()
NO_CSRF = (
    f"a write from a browser must carry its page's CSRF token in the header {CSRF_HEADER}; "
    "reload the page and try again (programs send 'Authorization: Bearer <token>' instead of a cookie)"
)
NO_TOKEN = (
    "this workspace needs a token: send 'Authorization: Bearer <token>' (a user's API token, or the workspace "
    "token in KILN_HOME/token)"
)
NOT_BEARER = (
    "the Authorization header is not 'Bearer <token>' (one scheme, Bearer in any case, then one token); "
    "send 'Authorization: Bearer <token>'"
)
PUBLIC_PATHS = {"/health", "/login", "/favicon.svg", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/favicon.ico"}
PUBLIC_PREFIXES = (
    "/docs/assets/",
    "/ui/assets/",
    "/schemas/",
)  # Swagger UI's files (kiln.server.api_docs), the studio's;
# the YAML kinds' JSON Schemas (kiln.server.schemas: kiln's field definitions, no workspace data)


def load_or_create_token(path: Path) -> str:
    """The workspace token; created at first start in a file only the owner can read."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


class BearerPrincipals:
    """Who an API token names: the workspace token (compared directly) or a user's token (through
    ``users()``, a ``CredentialVerifier``, cached, looked up in a thread on a miss); Unauthorized if none."""

    def __init__(self, token: str, users: Callable[[], CredentialVerifier | None]) -> None:
        self._token_bytes = token.encode()
        self._users = users

    async def __call__(self, token: str) -> Principal:
        if hmac.compare_digest(token.encode(), self._token_bytes):
            return WORKSPACE_OWNER
        verifier = self._users()
        if verifier is None:
            raise Unauthorized(UNKNOWN_TOKEN)
        return await _verified(partial(verifier.bearer, token))


SCORING_ROLE = Role.CONTRIBUTOR  # who may score an endpoint whose auth_mode is aml_token (Azure: not Reader)


def scoring_token_check(principals: BearerPrincipals) -> Callable[[str], Awaitable[KilnError | None]]:
    """The gateway's check of a user's API token at an aml_token endpoint: None when it may score."""

    async def check(token: str) -> KilnError | None:
        try:
            role = (await principals(token)).role
        except Unauthorized as exc:
            return exc
        if not role.allows(SCORING_ROLE):
            return Forbidden(
                f"scoring an endpoint whose auth_mode is aml_token needs {SCORING_ROLE.and_above()}; this token's "
                f"user is a {role.value} (an owner can change it: kiln user update)"
            )
        return None

    return check


class TokenAuthMiddleware:
    """Sets ``scope["kiln.principal"]`` (who is asking) or answers 401; routes decide what they may do.

    The workspace token is compared directly; user tokens and their browser sessions go
    through ``users()`` (a ``CredentialVerifier``, cached, looked up in a thread on a miss)."""

    def __init__(
        self, app: Any, token: str, users: Callable[[], CredentialVerifier | None] = lambda: None,
        sessions: Callable[[], BrowserSessions | None] = lambda: None,
    ) -> None:  # fmt: skip
        self.app = app
        self._bearer = BearerPrincipals(token, users)
        self._sessions = sessions

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._principal(scope)
        except Unauthorized as exc:
            principal, problem = None, exc.message
        else:
            problem = NO_TOKEN
        if principal is not None:
            scope[PRINCIPAL_SCOPE_KEY] = principal
            if not self._csrf_ok(scope):
                body = json.dumps({"error": {"type": "Forbidden", "message": NO_CSRF}}).encode()
                await _respond(send, 403, body, [(b"content-type", b"application/json")])
                return
            await self.app(scope, receive, send)
            return
        if _wants_html(scope) and scope["method"] == "GET":
            target = path + (("?" + scope["query_string"].decode()) if scope["query_string"] else "")
            await _respond(send, 303, b"", [(b"location", f"/login?next={quote(target)}".encode())])
            return
        error: dict[str, Any] = {"error": {"type": "Unauthorized", "message": problem}}
        if path == "/mlflow" or path.startswith("/mlflow/"):  # in the shape MLflow's client reads too
            error.update(error_code="UNAUTHENTICATED", message=problem)
        body = json.dumps(error).encode()
        await _respond(send, 401, body, [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")])

    async def _principal(self, scope: dict[str, Any]) -> Principal | None:
        """Who the credentials name; None when none were sent; Unauthorized when they are not valid."""
        authorization = next((value for name, value in scope["headers"] if name == b"authorization"), None)
        if authorization is not None:
            token = bearer_credential(authorization)  # the gateway reads endpoint keys with the same parser
            if token is None:
                raise Unauthorized(NOT_BEARER)
            return await self._bearer(token)
        cookie = _session_cookie(scope)
        if cookie is None:
            return None
        sessions = self._sessions()
        if sessions is None:
            raise Unauthorized("the workspace server is still starting; sign in again in a few seconds")
        principal = await _verified(partial(sessions.principal, cookie))
        scope[SESSION_SCOPE_KEY] = cookie
        return principal

    def _csrf_ok(self, scope: dict[str, Any]) -> bool:
        """A browser's write (its cookie, not a token) must carry the page's CSRF token. MLflow's UI
        cannot send it: /mlflow is kept safe by the cookie's SameSite=Strict and MLflow's JSON bodies
        (a cross-site form cannot send application/json without a CORS preflight, which is refused)."""
        cookie = scope.get(SESSION_SCOPE_KEY)
        if cookie is None or scope["method"] in SAFE_METHODS:
            return True
        path = scope["path"]
        if path == "/mlflow" or path.startswith("/mlflow/"):
            return True
        sessions = self._sessions()
        given = next((value.decode("latin-1") for name, value in scope["headers"] if name == CSRF_HEADER_BYTES), None)
        return sessions is not None and sessions.csrf_ok(cookie, given)


async def _verified(check: Callable[..., Principal | None]) -> Principal:
    """A cached answer at once; else the database, in a thread (the event loop serves others meanwhile)."""
    principal = check(cached_only=True)
    if principal is None:
        principal = await run_in_threadpool(check)
    assert principal is not None
    return principal


def _session_cookie(scope: dict[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            cookie = SimpleCookie(value.decode("latin-1"))
            if SESSION_COOKIE in cookie:
                return cookie[SESSION_COOKIE].value
    return None


_HTML = [(b"content-type", b"text/html; charset=utf-8")]


def _wants_html(scope: dict[str, Any]) -> bool:
    accept = dict(scope["headers"]).get(b"accept", b"")
    return b"text/html" in accept


async def _respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
