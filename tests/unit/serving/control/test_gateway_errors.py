"""The gateway's own answers (a missing or wrong key, no such deployment, nothing ready, a replica that
cannot be reached or does not answer) are kiln errors: the body names a class of the error tree, the
status is that class's, and the SDK rebuilds the same class from it. Without a key, an endpoint that
does not exist answers as one that does; what the gateway sends a replica carries the replica's secret."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from kiln.errors import (
    BadGateway,
    GatewayTimeout,
    KilnError,
    NotFound,
    Unauthorized,
    Unavailable,
    error_from_json,
)
from kiln.processes import free_port
from kiln.serving.control.gateway import EndpointGateway
from kiln.serving.control.gateway_metrics import GatewayMetrics
from kiln.serving.control.routing import DeploymentRoute, EndpointRoute, ReplicaTarget, RoutingTable, key_hash

KEY = "the-key"
SECRET = "the-replica-secret"


def _table(*replicas: str, timeout_s: float = 5.0) -> RoutingTable:
    blue = DeploymentRoute("blue", tuple(ReplicaTarget(url, SECRET) for url in replicas), timeout_s)
    table = RoutingTable()
    table.publish({"iris": EndpointRoute.build("iris", (key_hash(KEY),), {"blue": 100}, {}, {"blue": blue})})
    return table


async def _call(
    table: RoutingTable,
    path: str,
    key: str | None = KEY,
    deployment: str | None = None,
    scheme: str = "Bearer",
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> tuple[int, dict[bytes, bytes], Any]:
    headers = [(b"authorization", f"{scheme} {key}".encode())] if key is not None else []
    headers += extra
    if deployment is not None:
        headers.append((b"azureml-model-deployment", deployment.encode()))
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers, "query_string": b""}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    gateway = EndpointGateway(lambda: table, GatewayMetrics)
    try:
        await gateway(scope, receive, send)
    finally:
        await gateway.aclose()
    start, body = sent
    return start["status"], dict(start["headers"]), json.loads(body["body"])


def _rebuilt(status: int, body: Any) -> KilnError:
    error = error_from_json(body, status)
    assert type(error).http_status == status  # the class the body names answers with this status
    return error


@asynccontextmanager
async def _silent_replica() -> AsyncIterator[str]:
    """A replica that accepts the connection and never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_without_its_key_an_unknown_endpoint_answers_as_a_known_one() -> None:
    """Same status, same challenge, same body (but for the name the caller wrote in the URL), so that
    nobody learns which endpoint names exist; the key of another endpoint is no key of this one."""

    async def test() -> None:
        table = _table("http://127.0.0.1:1")
        for key in (None, "wrong", KEY):
            unknown = await _call(table, "/endpoints/rose/score", key=key)  # as long as "iris": same length
            known = await _call(table, "/endpoints/iris/score", key=None if key == KEY else key)
            assert unknown[0] == known[0] == 401 and unknown[1] == known[1]
            assert json.dumps(unknown[2]) == json.dumps(known[2]).replace("iris", "rose")
            assert type(_rebuilt(*unknown[::2])) is Unauthorized

    _run(test)


def test_an_unknown_deployment_is_not_found_to_a_caller_with_the_key() -> None:
    async def test() -> None:
        status, _, body = await _call(_table("http://127.0.0.1:1"), "/endpoints/iris/score", deployment="red")
        assert type(_rebuilt(status, body)) is NotFound and "no deployment 'red'" in body["error"]["message"]

    _run(test)


@asynccontextmanager
async def _recording_replica(seen: list[bytes]) -> AsyncIterator[str]:
    """A replica that answers 200 and keeps the head of each request it got."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if b"content-length" in line), 0
        )
        await reader.readexactly(length)
        seen.append(head)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_key_in_any_case_of_the_scheme_reaches_the_replica_with_its_secret_only(scheme: str) -> None:
    async def test() -> None:
        seen: list[bytes] = []
        async with _recording_replica(seen) as replica:
            forged = ((b"x-kiln-internal-secret", b"forged"),)
            status, _, body = await _call(_table(replica), "/endpoints/iris/score", scheme=scheme, extra=forged)
        assert (status, body) == (200, {})
        head = seen[0].decode("latin-1").lower()
        assert f"x-kiln-internal-secret: {SECRET}" in head and "forged" not in head
        assert "authorization" not in head and KEY not in head  # the caller's key stays at the gateway

    _run(test)


def test_a_scheme_other_than_bearer_is_no_key() -> None:
    async def test() -> None:
        for scheme in ("Basic", "Token", "Bearer  x"):
            status, headers, body = await _call(_table("http://127.0.0.1:1"), "/endpoints/iris/score", scheme=scheme)
            assert status == 401 and headers[b"www-authenticate"] == b"Bearer", scheme

    _run(test)


def test_a_wrong_key_is_unauthorized_with_the_bearer_challenge() -> None:
    async def test() -> None:
        status, headers, body = await _call(_table("http://127.0.0.1:1"), "/endpoints/iris/score", key="wrong")
        assert type(_rebuilt(status, body)) is Unauthorized
        assert headers[b"www-authenticate"] == b"Bearer"
        assert "get-credentials -n iris" in body["error"]["message"]

    _run(test)


def test_nothing_ready_is_unavailable() -> None:
    async def test() -> None:
        status, _, body = await _call(_table(), "/endpoints/iris/score")
        assert (status, type(_rebuilt(status, body))) == (503, Unavailable)
        status, _, body = await _call(_table(), "/endpoints/iris/score", deployment="blue")
        assert (status, type(_rebuilt(status, body))) == (503, Unavailable)
        assert "'blue' has no ready replica" in body["error"]["message"]

    _run(test)


@pytest.mark.parametrize(("deployment", "expected"), [(None, Unavailable), ("blue", BadGateway)])
def test_a_replica_that_cannot_be_reached(deployment: str | None, expected: type[KilnError]) -> None:
    async def test() -> None:
        closed = [f"http://127.0.0.1:{free_port()}" for _ in range(3)]  # more than the gateway's retries reach
        status, _, body = await _call(_table(*closed), "/endpoints/iris/score", deployment=deployment)
        assert type(_rebuilt(status, body)) is expected
        assert "deployment 'blue' could not be reached" in body["error"]["message"]

    _run(test)


def test_a_replica_that_does_not_answer_in_time_is_a_gateway_timeout() -> None:
    async def test() -> None:
        async with _silent_replica() as replica:
            status, _, body = await _call(_table(replica, timeout_s=0.2), "/endpoints/iris/score")
        assert (status, type(_rebuilt(status, body))) == (504, GatewayTimeout)
        assert "'blue' did not answer in time" in body["error"]["message"]

    _run(test)
