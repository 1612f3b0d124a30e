"""``/mlflow`` on the workspace: MLflow's API, artifacts and UI, as a pure ASGI path.

``MlflowPath`` sits inside the token middleware (which says who is asking) and in front of
FastAPI's routing: ``/mlflow`` requests never reach a router, a dependency or the thread pool.
Who may do what is checked inline (``access``: readers read, contributors write; the model
version creator tag), the four hot write calls are answered in this process through MLflow's own
store (``kiln.tracking.fast_writes``), and the rest is relayed to MLflow's child over a pooled
loopback connection (``kiln.tracking.loopback_http``): a small body whole, a large one streamed,
the answer streamed back as it comes.

The caller's credentials stop here; what goes on to MLflow's child carries the workspace server's
secret instead (``kiln.tracking.mlflow_secret``), the only thing the child accepts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kiln.errors import InvalidSpec, KilnError, Unavailable
from kiln.internal_secret import HEADER_NAME
from kiln.tracking.fast_writes import PATHS as FAST_PATHS
from kiln.tracking.fast_writes import FastWrites
from kiln.tracking.loopback_http import LoopbackClient, UpstreamError
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

PREFIX = "/mlflow"
_HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"te",
    b"trailer",
    b"upgrade",
    b"proxy-authorization",
}
# The workspace's credentials stop here; MLflow's child wants the server's secret instead (and a caller's
# copy of that header is dropped). Content-Length is set by the client from the body it sends.
_DROPPED_REQUEST = _HOP_BY_HOP | {b"host", b"authorization", b"cookie", b"content-length", HEADER_NAME.encode()}
_REGISTRY_WRITES = MODEL_VERSION_TAG_CHANGES | {MODEL_VERSION_CREATE}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WHOLE_BODY = 1 << 20  # bodies up to this are read whole (and can be sent again); larger ones are streamed
_MAX_UNSIZED_BODY = 64 << 20  # a body sent without Content-Length is read whole (MLflow needs the length)
_JSON = (b"content-type", b"application/json")
# what MLflow's app sends with an API answer (its security headers), so a fast answer looks the same
_MLFLOW_ANSWER = [
    _JSON,
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"vary", b"Origin"),
]
_NOT_RELAYED = _HOP_BY_HOP | {b"date", b"server"}  # this server's own uvicorn sends those

Access = Callable[[dict[str, Any], str, str], str]
"""``access(scope, method, api_path)``: the caller's name, or raises (401/403) when it may not."""


class MlflowProxy:
    """``upstream()`` gives MLflow's current loopback base URL (with its ``/mlflow`` prefix);
    ``access`` checks the caller; ``store_uri`` is MLflow's backend store, written directly for
    the hot write calls (None: everything is relayed)."""

    def __init__(self, upstream: Callable[[], str], access: Access, store_uri: str | None = None) -> None:
        self._upstream = upstream
        self._access = access
        self._secret = HEADER_NAME.encode(), process_secret().encode()
        self._client: LoopbackClient | None = None
        self.writes = FastWrites(store_uri) if store_uri and FastWrites.handles(store_uri) else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        method: str = scope["method"]
        below = scope["path"][len(PREFIX) :]
        api_path = mlflow_path(below)
        try:
            caller = self._access(scope, method, api_path)
            if (
                method == "POST"
                and self.writes is not None
                and (call := FAST_PATHS.get(api_path))
                and _header(scope["headers"], b"origin") is None  # a browser's call: MLflow's own CORS checks
            ):
                await self._write_here(call, scope, receive, send)
                return
            await self._relay(scope, receive, send, method, below, api_path, caller)
        except KilnError as error:
            await _error(send, error)

    async def _write_here(self, call: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert self.writes is not None
        body = await _read_body(receive, _MAX_UNSIZED_BODY)
        content_type = _header(scope["headers"], b"content-type")
        status, answer = await self.writes.answer(call, content_type, body)
        await _respond(send, status, answer, _MLFLOW_ANSWER)

    async def _relay(
        self, scope: dict[str, Any], receive: Any, send: Any, method: str, below: str, api_path: str, caller: str
    ) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k not in _DROPPED_REQUEST]
        headers.append(self._secret)
        base = urlsplit(self._upstream())
        target = base.path + (below or "")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        client = self._client_for(base.hostname or "127.0.0.1", base.port or 80)
        body: Any = b""
        length: int | None = None
        if method in _BODY_METHODS:
            declared = _header(scope["headers"], b"content-length")
            length = int(declared) if declared and declared.isdigit() else None
            if api_path in _REGISTRY_WRITES:
                body = self._registry_body(await _read_body(receive, _MAX_UNSIZED_BODY), api_path, scope, caller)
            elif length is None or length <= _WHOLE_BODY:
                body = await _read_body(receive, _MAX_UNSIZED_BODY)
            else:
                body = _streamer(receive)
        try:
            answer = await client.request(method, target, headers, body, length)
        except UpstreamError as exc:
            raise Unavailable(f"MLflow's tracking server is not answering ({exc}); try again in a moment") from exc
        kept = [(k, v) for k, v in answer.headers if k not in _NOT_RELAYED]
        await send({"type": "http.response.start", "status": answer.status, "headers": kept})
        pieces = answer.body()
        try:
            async for piece in pieces:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        finally:
            await pieces.aclose()
        await send({"type": "http.response.body", "body": b""})

    def _registry_body(self, body: bytes, api_path: str, scope: dict[str, Any], caller: str) -> bytes:
        """A new model version carries its creator; nobody changes that tag through the proxy."""
        if api_path == MODEL_VERSION_CREATE:
            return with_creator_tag(body, caller)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if names_creator_tag(body, query):
            raise TrackingForbidden(f"the model version tag '{CREATED_BY_TAG}' is kept by kiln; it cannot be changed")
        return body

    def _client_for(self, host: str, port: int) -> LoopbackClient:
        """One pool per MLflow child (a restarted child listens on the same port; its closed
        connections are dropped by the pool)."""
        if self._client is None or (self._client.host, self._client.port) != (host, port):
            self._client = LoopbackClient(host, port)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self.writes is not None:
            await asyncio.to_thread(self.writes.close)


class MlflowPath:
    """Middleware: ``/mlflow`` and below go to the proxy, past FastAPI's routing."""

    def __init__(self, app: Any, proxy: MlflowProxy) -> None:
        self.app = app
        self.proxy = proxy

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == PREFIX or path.startswith(PREFIX + "/"):
            await self.proxy(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidSpec("the request ended before its body did")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise InvalidSpec(
                f"a request body sent without Content-Length may hold at most {limit >> 20} MiB; "
                "send its Content-Length"
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _streamer(receive: Any) -> Callable[[asyncio.StreamWriter], Any]:
    async def write(writer: asyncio.StreamWriter) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionResetError("the caller went away during its upload")
            writer.write(message.get("body", b""))
            await writer.drain()
            if not message.get("more_body"):
                return

    return write


async def _respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Any, error: KilnError) -> None:
    extra = [(k.lower().encode(), v.encode()) for k, v in error.http_headers().items()]
    await _respond(send, error.http_status, json.dumps(error.to_json()).encode(), [_JSON, *extra])
