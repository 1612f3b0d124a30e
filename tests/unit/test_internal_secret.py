"""``InternalOnly``: an internal service's app sees a request only if it carries the secret."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kiln.internal_secret import HEADER, InternalOnly, new_secret

SECRET = new_secret()


class _App:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.seen.append(scope["type"])
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"inside"})


def _call(kind: str, headers: list[tuple[bytes, bytes]]) -> tuple[_App, list[dict[str, Any]]]:
    app, sent = _App(), []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    guarded = InternalOnly(app, SECRET, "go through the workspace")
    asyncio.run(guarded({"type": kind, "headers": headers}, receive, send))
    return app, sent


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(HEADER, b"")],
        [(HEADER, b"guess")],
        [(HEADER, SECRET[:-1].encode())],
        [(HEADER, SECRET.upper().encode())],
        [(b"authorization", f"Bearer {SECRET}".encode())],  # only its own header carries it
        [(b"x-kiln-internal-secret-2", SECRET.encode())],
    ],
)
def test_a_request_without_the_secret_never_reaches_the_app(headers: list[tuple[bytes, bytes]]) -> None:
    app, sent = _call("http", headers)
    assert app.seen == []
    assert sent[0]["status"] == 403
    assert json.loads(sent[1]["body"]) == {"error": {"type": "Forbidden", "message": "go through the workspace"}}
    app, sent = _call("websocket", headers)
    assert app.seen == [] and sent == [{"type": "websocket.close", "code": 1008}]


def test_the_secret_opens_it_and_lifespan_passes() -> None:
    app, sent = _call("http", [(b"content-type", b"text/plain"), (HEADER, SECRET.encode())])
    assert app.seen == ["http"] and sent[0]["status"] == 200
    app, sent = _call("lifespan", [])
    assert app.seen == ["lifespan"]


def test_secrets_are_fresh_and_an_empty_one_is_refused() -> None:
    assert len({new_secret() for _ in range(100)}) == 100 and len(SECRET) >= 40
    with pytest.raises(ValueError, match="needs a secret"):
        InternalOnly(_App(), "", "x")
