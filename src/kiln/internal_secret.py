"""Internal services answer only the workspace server: a secret header, checked before anything else.

MLflow's tracking server (the workspace server's child) and every scoring replica listen on
loopback TCP ports, which any process on the machine can reach. Each gets a secret when it starts
(MLflow on its standard input; a replica in its configuration file, mode 0600) and answers
nothing, not even a health check, to a request without it: ``InternalOnly`` wraps the service's
ASGI app and compares the one header ``x-kiln-internal-secret`` in constant time before the app
sees the request. Only the workspace server sends it (its ``/mlflow`` proxy and MLflow client, the
scoring gateway, the endpoint controller's probes); users reach the services through it.

A header rather than a unix socket: MLflow's Python client, which the server uses in-process,
speaks HTTP over TCP only, and one mechanism for both services keeps one thing to get right.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import Any

HEADER_NAME = "x-kiln-internal-secret"
HEADER = HEADER_NAME.encode()


def new_secret() -> str:
    """A fresh secret (256 bits, URL-safe text: it travels as a header value)."""
    return secrets.token_urlsafe(32)


class InternalOnly:
    """ASGI middleware: a request carrying ``secret`` in ``x-kiln-internal-secret`` reaches ``app``;
    any other gets 403 with ``refusal`` (which says where users go instead). Lifespan events pass."""

    def __init__(self, app: Any, secret: str, refusal: str) -> None:
        if not secret:
            raise ValueError("an internal service needs a secret")
        self.app = app
        self._secret = secret.encode()
        self._body = json.dumps({"error": {"type": "Forbidden", "message": refusal}}).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == HEADER:
                if hmac.compare_digest(value, self._secret):
                    await self.app(scope, receive, send)
                    return
                break
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self._body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": self._body})
