"""The token middleware reads ``Authorization`` with the one parser the gateway uses too
(``kiln.authorization``): the scheme in any case, one credential."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kiln.server.auth import NOT_BEARER, TokenAuthMiddleware
from kiln.server.permissions import PRINCIPAL_SCOPE_KEY
from kiln.services.credentials import UNKNOWN_TOKEN, WORKSPACE_OWNER

TOKEN = "the-workspace-token"


def _call(authorization: str) -> tuple[Any, list[dict[str, Any]]]:
    reached: list[Any] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reached.append(scope[PRINCIPAL_SCOPE_KEY])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "GET", "path": "/api/v1/jobs", "query_string": b"",
        "headers": [(b"authorization", authorization.encode())],
    }  # fmt: skip
    asyncio.run(TokenAuthMiddleware(app, token=TOKEN)(scope, receive, send))
    return (reached[0] if reached else None), sent


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_may_come_in_any_case(scheme: str) -> None:
    principal, sent = _call(f"{scheme} {TOKEN}")
    assert principal == WORKSPACE_OWNER and sent == []


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (f"Basic {TOKEN}", NOT_BEARER),
        (TOKEN, NOT_BEARER),
        (f"Bearer {TOKEN} {TOKEN}", NOT_BEARER),
        ("Bearer", NOT_BEARER),
        ("Bearer not-the-token", UNKNOWN_TOKEN),
        (f"bearer {TOKEN}x", UNKNOWN_TOKEN),
    ],
)
def test_anything_else_is_refused_with_what_to_send(authorization: str, message: str) -> None:
    principal, sent = _call(authorization)
    assert principal is None and sent[0]["status"] == 401
    assert json.loads(sent[1]["body"])["error"] == {"type": "Unauthorized", "message": message}
    assert TOKEN not in sent[1]["body"].decode()
