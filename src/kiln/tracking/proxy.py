"""``/mlflow`` on the workspace: MLflow's API, artifacts and UI, streamed both ways.

The caller's credentials stop here (the token middleware checked them); what goes on to MLflow's
child carries the workspace server's secret instead (``kiln.tracking.mlflow_secret``), the only
thing the child accepts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from kiln.errors import Unavailable
from kiln.internal_secret import HEADER_NAME
from kiln.tracking.mlflow_access import (
    MODEL_VERSION_CREATE,
    MODEL_VERSION_TAG_CHANGES,
    TrackingForbidden,
    mlflow_path,
    names_creator_tag,
    with_creator_tag,
)
from kiln.tracking.mlflow_secret import process_secret
from kiln.tracking.registry import CREATED_BY_TAG

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}
# The workspace's credentials stop here; MLflow's child wants the server's secret instead (and a caller's
# copy of that header is dropped). Content-Length is kept: MLflow's Flask handlers read no body sent chunked.
_DROPPED_REQUEST = _HOP_BY_HOP | {"host", "authorization", "cookie", HEADER_NAME}
_REGISTRY_WRITES = MODEL_VERSION_TAG_CHANGES | {MODEL_VERSION_CREATE}


class MlflowProxy:
    """``upstream()`` gives MLflow's current loopback base URL; ``creator_of(request)`` names who is
    asking, recorded as ``kiln.created_by`` on the model versions registered through the proxy."""

    def __init__(
        self,
        upstream: Callable[[], str],
        creator_of: Callable[[Request], str] | None = None,
        dependencies: Sequence[Any] = (),
    ) -> None:
        self._upstream = upstream
        self._secret = process_secret()
        self._creator_of = creator_of
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(300.0, connect=5.0), limits=httpx.Limits(max_keepalive_connections=32)
        )
        self.router = APIRouter(include_in_schema=False, dependencies=list(dependencies))  # e.g. who may write
        self.router.add_api_route("/mlflow", self.forward, methods=["GET"])
        self.router.add_api_route(
            "/mlflow/{path:path}", self.forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        )

    async def forward(self, request: Request, path: str = "") -> StreamingResponse:
        url = httpx.URL(f"{self._upstream()}/{path}", query=request.url.query.encode())
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED_REQUEST]
        headers.append((HEADER_NAME, self._secret))
        has_body = request.method in ("POST", "PUT", "PATCH", "DELETE")
        content: Any = request.stream() if has_body else None
        if has_body and self._creator_of is not None and mlflow_path(path) in _REGISTRY_WRITES:
            content = await self._registry_body(request, path)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        outgoing = self._client.build_request(request.method, url, headers=headers, content=content)
        try:
            response = await self._client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"MLflow's tracking server is not answering ({type(exc).__name__}); try again in a moment"
            ) from exc
        kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers=kept,
            background=BackgroundTask(response.aclose),
        )

    async def _registry_body(self, request: Request, path: str) -> bytes:
        """A new model version carries its creator; nobody changes that tag through the proxy."""
        assert self._creator_of is not None
        body = await request.body()
        if mlflow_path(path) == MODEL_VERSION_CREATE:
            return with_creator_tag(body, self._creator_of(request))
        if names_creator_tag(body, dict(request.query_params)):
            raise TrackingForbidden(f"the model version tag '{CREATED_BY_TAG}' is kept by kiln; it cannot be changed")
        return body

    async def aclose(self) -> None:
        await self._client.aclose()
