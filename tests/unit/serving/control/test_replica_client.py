"""The gateway's HTTP/1.1 hop to replicas (``replica_client``) against real uvicorn servers on
loopback: answers come back whole (status, headers, body, chunked or not) over kept-alive
connections; a pooled connection the replica closed while idle is replaced without the caller
seeing it; a replica that refuses, or dies before its answer is complete, is ``ReplicaUnreachable``
(so the gateway tries another); and the gateway through this client retries on another replica."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn

from kiln.processes import free_port
from kiln.serving.control.gateway import EndpointGateway
from kiln.serving.control.gateway_metrics import GatewayMetrics
from kiln.serving.control.replica_client import ReplicaClient, ReplicaUnreachable
from kiln.serving.control.routing import DeploymentRoute, EndpointRoute, ReplicaTarget, RoutingTable, key_hash

KEY = "the-key"
SECRET = "the-replica-secret"


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what it got: method, path, the headers it was sent, the body's length; a
    ``/chunked`` path answers without Content-Length (chunked)."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = json.dumps({
        "method": scope["method"], "target": scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else ""),
        "headers": {k.decode(): v.decode() for k, v in scope["headers"]}, "length": len(body),
        "client_port": scope["client"][1],
    }).encode()  # fmt: skip
    headers = [(b"content-type", b"application/json"), (b"x-replica", b"echo")]
    if scope["path"] != "/chunked":
        headers.append((b"content-length", str(len(answer)).encode()))
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    if scope["path"] == "/chunked":
        await send({"type": "http.response.body", "body": answer[:10], "more_body": True})
        await send({"type": "http.response.body", "body": answer[10:]})
    else:
        await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def uvicorn_replica(keep_alive_s: float = 75) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(
        echo_app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False,
        timeout_keep_alive=keep_alive_s,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def dying_replica() -> AsyncIterator[int]:
    """Reads a request, starts an answer that promises 100 bytes, sends 10, and closes."""

    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(half, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_answers_come_back_whole_over_one_kept_alive_connection() -> None:
    async def test() -> None:
        client = ReplicaClient()
        async with uvicorn_replica() as port:
            ports = set()
            for path in ("/score", "/chunked", "/v2/models/m/infer?x=1"):
                body = b"x" * 70_000  # larger than one socket read
                answer = await client.exchange(
                    "127.0.0.1", port, "POST", path, [(b"content-type", b"application/json"), (b"x-a", b"b")], body
                )
                echoed = json.loads(answer.body)
                assert answer.status == 201 and (b"x-replica", b"echo") in answer.headers
                assert echoed["method"] == "POST" and echoed["target"] == path and echoed["length"] == len(body)
                assert echoed["headers"]["x-a"] == "b" and echoed["headers"]["content-length"] == str(len(body))
                ports.add(echoed["client_port"])
            assert len(ports) == 1  # one keep-alive connection served them all
            client.close()

    _run(test)


def test_a_head_request_is_answered_by_its_headers() -> None:
    """A HEAD's answer announces a length and carries no body: no wait for it, and the next request works."""

    async def test() -> None:
        client = ReplicaClient()
        async with uvicorn_replica() as port:
            async with asyncio.timeout(5):
                head = await client.exchange("127.0.0.1", port, "HEAD", "/v2/health/ready", [], b"")
                after = await client.exchange("127.0.0.1", port, "GET", "/v2/health/ready", [], b"")
            assert head.status == 201 and head.body == b"" and dict(head.headers)[b"content-length"] != b"0"
            assert json.loads(after.body)["method"] == "GET"
            client.close()

    _run(test)


def test_concurrent_exchanges_each_get_their_own_answer() -> None:
    async def test() -> None:
        client = ReplicaClient()
        async with uvicorn_replica() as port:
            answers = await asyncio.gather(*(
                client.exchange("127.0.0.1", port, "POST", f"/score/{i}", [], b"{}") for i in range(40)
            ))  # fmt: skip
            assert [json.loads(a.body)["target"] for a in answers] == [f"/score/{i}" for i in range(40)]
            client.close()

    _run(test)


def test_a_connection_the_replica_closed_while_idle_is_replaced_unseen() -> None:
    async def test() -> None:
        client = ReplicaClient()
        async with uvicorn_replica(keep_alive_s=0.2) as port:
            first = json.loads((await client.exchange("127.0.0.1", port, "GET", "/a", [], b"")).body)
            await asyncio.sleep(0.6)  # uvicorn closes the idle connection
            second = json.loads((await client.exchange("127.0.0.1", port, "GET", "/b", [], b"")).body)
            assert second["target"] == "/b" and second["client_port"] != first["client_port"]
            client.close()

    _run(test)


def test_a_replica_that_refuses_or_dies_mid_answer_is_unreachable() -> None:
    async def test() -> None:
        client = ReplicaClient()
        with pytest.raises(ReplicaUnreachable, match="cannot connect"):
            await client.exchange("127.0.0.1", free_port(), "POST", "/score", [], b"{}")
        async with dying_replica() as port:
            with pytest.raises(ReplicaUnreachable, match="closed the connection"):
                await client.exchange("127.0.0.1", port, "POST", "/score", [], b"{}")
        client.close()

    _run(test)


def test_the_gateway_retries_another_replica_when_one_dies_mid_answer() -> None:
    """Through the gateway: the dying replica's half answer never reaches the caller; the other answers."""

    async def test() -> None:
        async with dying_replica() as dead, uvicorn_replica() as alive:
            replicas = (
                ReplicaTarget(f"http://127.0.0.1:{dead}", SECRET),
                ReplicaTarget(f"http://127.0.0.1:{alive}", SECRET),
            )
            table = RoutingTable()
            blue = DeploymentRoute("blue", replicas, 5.0)
            table.publish({"iris": EndpointRoute.build("iris", (key_hash(KEY),), {"blue": 100}, {}, {"blue": blue})})
            metrics = GatewayMetrics()
            gateway = EndpointGateway(lambda: table, lambda: metrics)
            sent: list[dict[str, Any]] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b'{"input_data": [[1]]}', "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            for _ in range(4):  # round robin starts on either replica
                sent.clear()

                scope = {
                    "type": "http", "method": "POST", "path": "/endpoints/iris/score", "query_string": b"",
                    "headers": [(b"authorization", f"Bearer {KEY}".encode()), (b"transfer-encoding", b"chunked")],
                }  # fmt: skip
                await gateway(scope, receive, send)
                start, body = sent
                echoed = json.loads(body["body"])
                assert start["status"] == 201 and echoed["target"] == "/score"
                assert (
                    echoed["headers"]["x-kiln-internal-secret"] == SECRET and "authorization" not in echoed["headers"]
                )
                assert "transfer-encoding" not in echoed["headers"]  # the body went whole, with its length
            assert metrics.stats("iris", "blue").codes == {201: 4}
            await gateway.aclose()

    _run(test)


def test_the_path_reaches_the_replica_as_the_caller_wrote_it_and_nothing_more() -> None:
    """ASGI hands the gateway a decoded path: a space, a CR LF (which would start a header of the
    caller's making), '%' or UTF-8 arrive at the replica as the same path, and no extra header."""

    async def test() -> None:
        async with uvicorn_replica() as port:
            table = RoutingTable()
            blue = DeploymentRoute("blue", (ReplicaTarget(f"http://127.0.0.1:{port}", SECRET),), 5.0)
            table.publish({"iris": EndpointRoute.build("iris", (key_hash(KEY),), {"blue": 100}, {}, {"blue": blue})})
            gateway = EndpointGateway(lambda: table, GatewayMetrics)
            path = "/v2/models/a b%2F\r\nx-evil: 1\r\n\r\nGET /x/é/infer"
            sent: list[dict[str, Any]] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"{}", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {
                "type": "http", "method": "POST", "path": "/endpoints/iris" + path, "query_string": b"a=1&b=%20",
                "headers": [(b"authorization", f"Bearer {KEY}".encode())],
            }  # fmt: skip
            await gateway(scope, receive, send)
            echoed = json.loads(sent[1]["body"])
            assert sent[0]["status"] == 201 and echoed["target"] == path + "?a=1&b=%20"
            assert "x-evil" not in echoed["headers"]
            await gateway.aclose()

    _run(test)
