"""``/health``, answered on the event loop.

FastAPI runs each ``def`` handler in a bounded pool of threads (``kiln.server.limits.SERVER_THREADS``);
when slow requests hold all of them, a request that needs a thread waits for one. ``/health`` needs
none: :class:`HealthCheck`, the outermost ASGI layer, answers it before authentication, routing and
the database, so whoever watches the server sees a busy server as alive.

``status`` is ``ok`` once the workspace's own parts are up; MLflow's tracking server starts beside them,
and ``mlflow`` says where it is (``starting``, ``ready``, ``failed``): ``/mlflow`` waits for it
(:mod:`kiln.server.mlflow_gate`), nothing else does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kiln import __version__

HEALTH_PATH = "/health"


class HealthCheck:
    """ASGI: ``GET /health`` → ``{"status": "ok"|"starting", "version": …, "mlflow": "starting"|"ready"|"failed"}``,
    with no thread, no credentials."""

    def __init__(self, app: Any, ready: Callable[[], bool], mlflow_state: Callable[[], str] | None = None) -> None:
        self.app = app
        self.ready = ready
        self.mlflow_state = mlflow_state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await answer(send, 405, {"error": {"type": "KilnError", "message": "use GET /health"}})
            return
        payload = {"status": "ok" if self.ready() else "starting", "version": __version__}
        if self.mlflow_state is not None:
            payload["mlflow"] = self.mlflow_state()
        await answer(send, 200, payload, body=scope["method"] == "GET")


async def answer(
    send: Any, status: int, payload: dict[str, Any], body: bool = True, headers: dict[str, str] | None = None
) -> None:
    """A JSON answer sent straight on ASGI (no framework on the way)."""
    content = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content if body else b""})
