"""``/login`` and ``/logout``: a browser signs in with a token (a user's API token or the workspace
token), or with the one-time code of a link from ``kiln ui``, and gets a session cookie
(``kiln.services.browser_sessions``): HttpOnly, SameSite=Strict, never the token itself.

The code link does not sign in on GET: it shows one button, so a link sent by someone else cannot
sign a browser in as them without a click (login CSRF).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kiln.errors import Forbidden, Unauthorized
from kiln.server.auth import SESSION_COOKIE, SESSION_SCOPE_KEY
from kiln.server.dependencies import workspace_of
from kiln.server.permissions import public, requires
from kiln.specs.users import Role
from kiln.studio.rendering import NO_STORE, page_html

HOME = "/ui/jobs"
FORM_LIMIT = 16 * 1024


def signin_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login", dependencies=[public()])
    async def sign_in_page(request: Request, next: str = HOME, code: str | None = None) -> HTMLResponse:
        return _page(request, safe_next(next), code=code)

    @router.post("/login", dependencies=[public()])
    async def sign_in(request: Request) -> Response:
        form = await _form(request)
        target = safe_next(form.get("next", HOME))
        sessions = workspace_of(request).browser_sessions
        try:
            if form.get("code"):
                cookie = await run_in_threadpool(sessions.redeem, form["code"])
            else:
                principal = await request.app.state.bearer_principals(form.get("token", "").strip() or "-")
                cookie = await run_in_threadpool(sessions.start, principal)
        except (Unauthorized, Forbidden) as refused:
            problem = "That token is not valid for this workspace." if "token" in form else refused.message
            return _page(request, target, problem=problem, status=401)
        answer = RedirectResponse(target, status_code=303)
        answer.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict", path="/")
        return answer

    @router.post("/logout", dependencies=[requires(Role.READER, "signing out")])
    async def sign_out(request: Request) -> Response:
        cookie = request.scope.get(SESSION_SCOPE_KEY)
        if cookie is not None:
            await run_in_threadpool(workspace_of(request).browser_sessions.end, cookie)
        answer = Response(status_code=204, headers={"hx-redirect": "/login"})
        answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return answer

    @router.get("/", dependencies=[public()])
    async def root() -> RedirectResponse:
        return RedirectResponse(HOME, status_code=303)

    return router


def _page(request: Request, target: str, code: str | None = None, problem: str = "", status: int = 200) -> HTMLResponse:
    html = page_html(request, "signin.html", next=target, code=code, problem=problem)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


async def _form(request: Request) -> dict[str, Any]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            break
    fields = parse_qs(body[:FORM_LIMIT].decode("utf-8", "replace"))
    return {name: values[0] for name, values in fields.items()}


def safe_next(target: str) -> str:
    """Only paths on this server, so the sign-in page cannot send anyone elsewhere.

    A browser reads a backslash as a slash (``/\\evil.example`` is ``//evil.example``, another host)
    and drops tabs and newlines, so a target with any of them, or any control character, is refused
    along with ``//host`` and ``scheme:`` targets."""
    local = (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(char) < 0x20 or ord(char) == 0x7F for char in target)
        and len(target) <= 2048
    )
    return target if local else HOME
