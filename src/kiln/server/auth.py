"""Workspace token auth: a Bearer token for programs, a session cookie for browsers.

Pure ASGI middleware (no per-request task switching), because every MLflow call a job
makes passes through it.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

SESSION_COOKIE = "kiln_session"
PUBLIC_PATHS = {"/health", "/login", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/favicon.ico"}


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


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"kiln-browser-session", hashlib.sha256).hexdigest()


class TokenAuthMiddleware:
    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._bearer = f"Bearer {token}".encode()
        self._session = session_value(token)
        self._token = token

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/login":
            await self._login(scope, receive, send)
            return
        if path in PUBLIC_PATHS or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        if _wants_html(scope) and scope["method"] == "GET":
            target = path + (("?" + scope["query_string"].decode()) if scope["query_string"] else "")
            await _respond(send, 303, b"", [(b"location", f"/login?next={quote(target)}".encode())])
            return
        body = json.dumps({"error": {"type": "Unauthorized", "message": _missing_token_message(scope)}}).encode()
        await _respond(send, 401, body, [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")])

    def _authorized(self, scope: dict[str, Any]) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization" and hmac.compare_digest(value, self._bearer):
                return True
            if name == b"cookie":
                cookie = SimpleCookie(value.decode("latin-1"))
                if SESSION_COOKIE in cookie and hmac.compare_digest(cookie[SESSION_COOKIE].value, self._session):
                    return True
        return False

    async def _login(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        query = parse_qs(scope["query_string"].decode())
        target = _safe_next(query.get("next", ["/mlflow/"])[0])
        if scope["method"] == "POST":
            form = parse_qs((await _read_body(receive)).decode())
            given = form.get("token", [""])[0].strip()
            target = _safe_next(form.get("next", [target])[0])
            if hmac.compare_digest(given.encode(), self._token.encode()):
                cookie = f"{SESSION_COOKIE}={self._session}; HttpOnly; SameSite=Strict; Path=/"
                await _respond(send, 303, b"", [(b"location", target.encode()), (b"set-cookie", cookie.encode())])
                return
            await _respond(send, 401, _login_page(target, "That token is not this workspace's token."), _HTML)
            return
        await _respond(send, 200, _login_page(target, ""), _HTML)


_HTML = [(b"content-type", b"text/html; charset=utf-8")]


def _missing_token_message(scope: dict[str, Any]) -> str:
    has_header = any(name == b"authorization" for name, _ in scope["headers"])
    if has_header:
        return "the token sent is not valid for this workspace (the local CLI reads it from KILN_HOME/token)"
    return "this workspace needs a token: send 'Authorization: Bearer <token>' (the token is in KILN_HOME/token)"


def _wants_html(scope: dict[str, Any]) -> bool:
    accept = dict(scope["headers"]).get(b"accept", b"")
    return b"text/html" in accept


def _safe_next(target: str) -> str:
    """Only paths on this server, so the login page cannot redirect anywhere else."""
    return target if target.startswith("/") and not target.startswith("//") else "/mlflow/"


def _login_page(target: str, problem: str) -> bytes:
    message = f"<p style='color:#b00'>{html.escape(problem)}</p>" if problem else ""
    return f"""<!doctype html><html><head><title>kiln: sign in</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:4em auto">
<h1>kiln workspace</h1>{message}
<form method="post" action="/login">
<p><label>Workspace token <input type="password" name="token" autofocus size="50"></label></p>
<input type="hidden" name="next" value="{html.escape(target)}">
<p><button type="submit">Sign in</button></p>
</form><p>The token is in the file <code>token</code> in the workspace's <code>KILN_HOME</code>.</p>
</body></html>""".encode()


async def _read_body(receive: Any, limit: int = 65536) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body") or len(body) > limit:
            return body[:limit]


async def _respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
