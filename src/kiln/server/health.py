"""``/health``, answered on the event loop.

FastAPI runs each ``def`` handler in a bounded pool of threads (``kiln.server.limits.SERVER_THREADS``);
when slow requests hold all of them, a request that needs a thread waits for one. ``/health`` needs
none: :class:`HealthCheck`, the outermost ASGI layer, answers it before authentication, routing and
the database, so whoever watches the server sees a busy server as alive.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kiln import __version__

HEALTH_PATH = "/health"


class HealthCheck:
    """ASGI: ``GET /health`` → ``{"status": "ok"|"starting", "version": …}``, with no thread, no credentials."""

    def __init__(self, app: Any, ready: Callable[[], bool]) -> None:
        self.app = app
        self.ready = ready

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, {"error": {"type": "KilnError", "message": "use GET /health"}})
            return
        status = "ok" if self.ready() else "starting"
        await _answer(send, 200, {"status": status, "version": __version__}, body=scope["method"] == "GET")


async def _answer(send: Any, status: int, payload: dict[str, Any], body: bool = True) -> None:
    content = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content if body else b""})
