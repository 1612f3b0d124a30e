"""The ``/mlflow`` relay's HTTP/1.1 client against a small asyncio server in this process: answers
framed by Content-Length, chunked or by closing, kept-alive connections reused, and a request
sent again when the server had closed the idle connection it went out on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from kiln.tracking.loopback_http import LoopbackClient

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]  # the request head → keep the connection?


async def serve(handler: Handler) -> tuple[asyncio.Server, list[int]]:
    """A server that reads each request (head and Content-Length body) and lets ``handler`` answer."""
    connections: list[int] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                keep = await handler(head + body, writer)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    return server, connections


async def read_all(client: LoopbackClient, method: str = "GET", body: bytes = b"") -> tuple[int, bytes]:
    answer = await client.request(method, "/x", [(b"x-test", b"1")], body)
    return answer.status, b"".join([piece async for piece in answer.body()])


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_content_length_answers_reuse_one_connection() -> None:
    seen: list[bytes] = []

    async def echo(request: bytes, writer: asyncio.StreamWriter) -> bool:
        seen.append(request)
        body = request.split(b"\r\n\r\n", 1)[1] or b"empty"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return True

    async def test() -> None:
        server, connections = await serve(echo)
        client = LoopbackClient("127.0.0.1", server.sockets[0].getsockname()[1])
        assert await read_all(client, "POST", b'{"a": 1}') == (200, b'{"a": 1}')
        assert await read_all(client) == (200, b"empty")
        assert await read_all(client, "PUT", b"") == (200, b"empty")
        assert len(connections) == 1
        assert b"content-length: 8" in seen[0] and b"x-test: 1" in seen[0] and b"host: 127.0.0.1:" in seen[0]
        assert b"content-length: 0" in seen[2]  # a PUT without a body still says so (MLflow's Flask reads it)
        await client.aclose()
        server.close()

    run(test)


def test_chunked_and_closing_answers_are_read_whole() -> None:
    async def chunked(request: bytes, writer: asyncio.StreamWriter) -> bool:
        if b"GET /x" in request and b"close" not in request:
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"
            )
            return True
        writer.write(b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\nuntil the end")
        return False

    async def test() -> None:
        server, connections = await serve(chunked)
        client = LoopbackClient("127.0.0.1", server.sockets[0].getsockname()[1])
        assert await read_all(client) == (200, b"hello world")
        assert await read_all(client) == (200, b"hello world")  # the chunked answer left the connection reusable
        answer = await client.request("POST", "/x", [(b"x-close", b"close")], b"")
        assert answer.status == 201 and b"".join([p async for p in answer.body()]) == b"until the end"
        assert len(connections) == 1
        assert await read_all(client) == (200, b"hello world")  # a closed connection is not reused
        assert len(connections) == 2
        await client.aclose()
        server.close()

    run(test)


def test_a_request_goes_out_again_when_the_idle_connection_was_closed() -> None:
    answered = 0

    async def once_per_connection(request: bytes, writer: asyncio.StreamWriter) -> bool:
        nonlocal answered
        answered += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return False  # closes after answering, without saying so (as a server whose keep-alive timed out)

    async def test() -> None:
        server, connections = await serve(once_per_connection)
        client = LoopbackClient("127.0.0.1", server.sockets[0].getsockname()[1])
        assert await read_all(client, "POST", b"{}") == (200, b"ok")
        await asyncio.sleep(0.05)  # the server has closed that connection by now
        assert await read_all(client, "POST", b"{}") == (200, b"ok")
        assert answered == 2 and len(connections) == 2
        await client.aclose()
        server.close()

    run(test)


def test_head_and_no_content_answers_have_no_body() -> None:
    async def head(request: bytes, writer: asyncio.StreamWriter) -> bool:
        status = b"204 No Content" if request.startswith(b"DELETE") else b"200 OK"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Length: 10\r\n\r\n"
            if b"HEAD" in request[:5]
            else b"HTTP/1.1 " + status + b"\r\n\r\n"
        )
        return True

    async def test() -> None:
        server, _ = await serve(head)
        client = LoopbackClient("127.0.0.1", server.sockets[0].getsockname()[1])
        assert await read_all(client, "HEAD") == (200, b"")
        assert await read_all(client, "DELETE") == (204, b"")
        await client.aclose()
        server.close()

    run(test)
