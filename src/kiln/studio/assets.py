"""``/ui/assets/NAME``: the studio's own files (``static/``) and the third-party browser libraries that
npm installed from ``web/package-lock.json`` (``scripts/install.sh``), named here one by one: nothing is
fetched from the internet at run time, and nothing else under ``node_modules`` is served.

URLs carry the file's content hash (``?v=``), so a browser keeps each file for good and a new kiln
version's files are fetched anew. Public, like the sign-in page that needs them.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from kiln.errors import NotFound, Unavailable
from kiln.server.permissions import public

HERE = Path(__file__).parent
STATIC = HERE / "static"
NODE_MODULES = HERE / "web" / "node_modules"
VENDOR = {  # served name → file under web/node_modules (versions pinned by web/package-lock.json)
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
MISSING_VENDOR = (
    "the studio's browser library {name} is not installed: run scripts/install.sh (it runs 'npm ci' in "
    "src/kiln/studio/web), then reload"
)


def asset_path(name: str) -> Path:
    """The file behind an asset's name; NotFound for any other name (no path is built from the name)."""
    if name in VENDOR:
        path = NODE_MODULES / VENDOR[name]
        if not path.is_file():
            raise Unavailable(MISSING_VENDOR.format(name=name))
        return path
    own = _own_files()
    if name not in own:
        raise NotFound(f"the studio has no asset '{name}'")
    return own[name]


@cache
def _own_files() -> dict[str, Path]:
    """The files of ``static/`` by name (they come with kiln: listed once)."""
    return {path.name: path for path in STATIC.iterdir() if path.is_file()}


@cache
def _version(name: str) -> str:
    try:
        return hashlib.sha256(asset_path(name).read_bytes()).hexdigest()[:12]
    except (NotFound, Unavailable):
        return "missing"


def asset_url(name: str) -> str:
    return f"/ui/assets/{name}?v={_version(name)}"


def assets_router() -> APIRouter:
    router = APIRouter(include_in_schema=False, dependencies=[public()])

    @router.get("/ui/assets/{name}")
    async def asset(name: str, v: str | None = None) -> Response:
        path = asset_path(name)
        caching = "public, max-age=31536000, immutable" if v == _version(name) else "no-cache"
        media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        return Response(path.read_bytes(), media_type=media_type, headers={"cache-control": caching})

    return router
