"""``/mlflow`` on the workspace: MLflow's API, artifacts and UI, streamed both ways."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from kiln.errors import Unavailable

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}
# The workspace's credentials stop here; MLflow runs without auth of its own on loopback.
# Content-Length is kept: MLflow's Flask handlers read no body sent chunked.
_DROPPED_REQUEST = _HOP_BY_HOP | {"host", "authorization", "cookie"}


class MlflowProxy:
    """``upstream()`` gives MLflow's current loopback base URL."""

    def __init__(self, upstream: Callable[[], str]) -> None:
        self._upstream = upstream
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(300.0, connect=5.0), limits=httpx.Limits(max_keepalive_connections=32)
        )
        self.router = APIRouter(include_in_schema=False)
        self.router.add_api_route("/mlflow", self.forward, methods=["GET"])
        self.router.add_api_route(
            "/mlflow/{path:path}", self.forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        )

    async def forward(self, request: Request, path: str = "") -> StreamingResponse:
        url = httpx.URL(f"{self._upstream()}/{path}", query=request.url.query.encode())
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED_REQUEST]
        has_body = request.method in ("POST", "PUT", "PATCH", "DELETE")
        outgoing = self._client.build_request(
            request.method, url, headers=headers, content=request.stream() if has_body else None
        )
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

    async def aclose(self) -> None:
        await self._client.aclose()
