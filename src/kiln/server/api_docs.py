"""``/docs`` served by kiln itself, so it works on a machine without internet.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN. Here the page is FastAPI's, but Swagger UI's
files come from the ``swagger-ui-py`` package (its ``static`` folder: Swagger UI 5, which reads the
OpenAPI 3.1 document FastAPI writes), served under :data:`ASSETS` without a token, like ``/docs``.
Only the files are used: the package's Python code is never imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
ASSETS = "/docs/assets"


def swagger_ui_files() -> Path:
    """Swagger UI's JavaScript and CSS, as the ``swagger-ui-py`` package ships them."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: reinstall kiln (scripts/install.sh)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def serve_api_docs(app: FastAPI) -> None:
    """``/docs`` and its assets, for an app made with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_files()), name="docs-assets")

    def docs(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=OAUTH2_REDIRECT,
        )

    def oauth2_redirect(_request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    # plain routes, as FastAPI's own /docs: not operations of the REST contract (kiln.api)
    app.add_route(DOCS, docs, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT, oauth2_redirect, include_in_schema=False)
