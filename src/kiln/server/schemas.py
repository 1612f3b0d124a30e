"""``/schemas/<kind>.json``: the JSON Schema of each YAML kind kiln reads (``kiln.specs.json_schemas``), for
editors: a YAML file whose ``$schema`` (or ``# yaml-language-server: $schema=…`` line) points here is checked
and completed as it is typed.

Public, like ``/docs`` and ``/openapi.json``: a schema holds kiln's field definitions, the same in every
workspace, never a workspace's data; and an editor fetches it without a token.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kiln.errors import KilnError
from kiln.specs.json_schemas import SCHEMAS_PATH, json_schema

ROUTE = SCHEMAS_PATH + "/{kind}.json"


def serve_schemas(app: FastAPI) -> None:
    """A plain route, as ``/docs``: not an operation of the REST contract (``kiln.api``)."""

    async def schema(request: Request) -> JSONResponse:
        kind = request.path_params["kind"]
        try:
            body = _schema(kind, str(request.base_url).rstrip("/"))
        except KilnError as error:
            return JSONResponse(error.to_json(), status_code=error.http_status)
        return JSONResponse(body, media_type="application/schema+json")

    app.add_route(ROUTE, schema, methods=["GET"], include_in_schema=False)


@cache  # the kinds are known once the capabilities are loaded, before the app is made
def _schema(kind: str, base_url: str) -> dict[str, Any]:
    return json_schema(kind, base_url)
