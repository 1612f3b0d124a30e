"""Templates and what every page is given: who is asking (``viewer``), the CSRF token for its writes,
the navigation, and the URLs of the assets (with their content hash, so browsers cache them for good)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kiln.server.auth import SESSION_SCOPE_KEY
from kiln.server.permissions import PRINCIPAL_SCOPE_KEY, principal_of
from kiln.services.credentials import Principal
from kiln.specs.users import Role
from kiln.studio.assets import asset_url

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Viewer:
    """Who is looking, and so which controls a page shows (the server refuses the rest anyway)."""

    name: str
    role: Role
    csrf: str | None  # None when signed by a token rather than a browser session

    @property
    def can_write(self) -> bool:
        return self.role.allows(Role.CONTRIBUTOR)

    @property
    def is_owner(self) -> bool:
        return self.role.allows(Role.OWNER)


def viewer_of(request: Request) -> Viewer:
    principal: Principal = principal_of(request)
    cookie = request.scope.get(SESSION_SCOPE_KEY)
    sessions = getattr(getattr(request.app.state, "workspace", None), "browser_sessions", None)
    csrf = sessions.csrf_token(cookie) if cookie is not None and sessions is not None else None
    return Viewer(principal.name, principal.role, csrf)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True), undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )  # fmt: skip
    env.globals["asset"] = asset_url
    env.filters["when"] = when
    env.filters["ago"] = ago
    env.filters["duration"] = duration
    env.filters["number"] = number
    return env


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` for this request (the viewer, nav and CSRF token added)."""
    return HTMLResponse(page_html(request, template, **context), status_code=status_code, headers=NO_STORE)


def page_html(request: Request, template: str, **context: Any) -> str:
    viewer = viewer_of(request) if _has_principal(request) else None
    pages = getattr(request.app.state, "studio_pages", ())
    nav = [page for page in pages if viewer is not None and viewer.role.allows(page.role)]
    return environment().get_template(template).render(viewer=viewer, nav=nav, path=request.url.path, **context)


def fragment(template: str, **context: Any) -> str:
    """A part of a page (an htmx swap), without the layout."""
    return environment().get_template(template).render(**context)


NO_STORE = {"cache-control": "no-store"}  # pages hold what only this viewer may see


def _has_principal(request: Request) -> bool:
    """Signed in (the sign-in page and public pages render without a viewer)."""
    return isinstance(request.scope.get(PRINCIPAL_SCOPE_KEY), Principal)


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "—"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{max(int(seconds), 0)} s ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def number(value: Any) -> str:
    """A metric or param value: floats to 6 significant digits, the rest as they are."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.6g}"
    return str(value)
