"""``GET /signed-files/{token}``: one stored file, streamed to whoever holds a URL the workspace signed
(``kiln.artifacts.signed_urls``): a Ray cluster's actors reading a batch job's input. No kiln token is asked for,
so the route sits outside the token check (an ASGI middleware, as the scoring gateway) and outside the REST contract
(it is no operation of a role). Everything but a valid, unexpired signature is refused before the store is asked
anything; a valid one names one file, opened through the store's checks (no ``..``, no symbolic link followed)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

import anyio.to_thread

from kiln.artifacts.signed_urls import ROUTE_PREFIX, SignedUrls
from kiln.errors import InvalidSpec, KilnError, NotFound, Unavailable
from kiln.server.health import answer

CHUNK = 1 << 20
NOT_THERE = "the signed file is not in the artifact store (it was removed, or the URL names a folder)"


class SignedFiles:
    """Outer middleware of the workspace app: answers ``GET``/``HEAD`` below ``/signed-files/``."""

    def __init__(self, app: Any, signed_urls: Callable[[], SignedUrls | None]) -> None:
        self.app = app
        self._signed_urls = signed_urls

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(ROUTE_PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await answer(
                send,
                405,
                {"error": {"type": "MethodNotAllowed", "message": "a signed file is read with GET (or HEAD)"}},
            )
            return
        signed = self._signed_urls()
        if signed is None:
            await _refuse(send, Unavailable("the workspace server is still starting; try again in a moment"))
            return
        try:
            key = signed.verify(scope["path"][len(ROUTE_PREFIX) :])
            handle = await anyio.to_thread.run_sync(_open, signed, key)
        except KilnError as exc:
            await _refuse(send, exc)
            return
        try:
            await _stream(handle, scope["method"] == "HEAD", send)
        finally:
            handle.close()


def _open(signed: SignedUrls, key: str) -> IO[bytes]:
    try:
        return signed.store.open(key)
    except (InvalidSpec, OSError):  # outside the store, through a link, a folder, not there
        raise NotFound(NOT_THERE) from None


async def _stream(handle: IO[bytes], head_only: bool, send: Any) -> None:
    headers = [(b"content-type", b"application/octet-stream"), (b"cache-control", b"no-store")]
    try:
        headers.append((b"content-length", str(os.fstat(handle.fileno()).st_size).encode()))
    except (OSError, AttributeError, ValueError):  # not a local file: streamed without a length
        pass
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    while not head_only:
        chunk = await anyio.to_thread.run_sync(handle.read, CHUNK)
        if not chunk:
            break
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _refuse(send: Any, error: KilnError) -> None:
    await answer(send, error.http_status, error.to_json(), headers=error.http_headers())
