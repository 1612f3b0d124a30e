"""A small pooled HTTP/1.1 client for one loopback server (MLflow's child), relaying into ASGI (its request head and
idle pool: ``kiln.keepalive``, shared with the gateway's hop to replicas, which reads whole where this streams).

httpx's client was over a third of the ``/mlflow`` proxy's CPU per call; this one does what the
relay needs and nothing else: keep-alive connections to one host, a request written in one go,
the answer's head parsed once and its body handed on as it arrives (Content-Length, chunked, or
until the server closes). A connection idle longer than the server keeps it, or one the server
has closed, is not reused; a request whose body is in memory is sent again once on a fresh
connection when a reused one turns out dead before any answer came.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from kiln.keepalive import IdlePool, request_head

# uvicorn closes a connection idle for 5 s (its timeout_keep_alive); one idle 4 s is not reused
_IDLE_LIMIT_S = 4.0
_READ_CHUNK = 256 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


class UpstreamError(ConnectionError):
    """The server could not be reached, or broke off its answer."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_used: float = field(default_factory=time.monotonic)
    reused: bool = False

    def usable(self) -> bool:
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and time.monotonic() - self.last_used < _IDLE_LIMIT_S
        )

    def close(self) -> None:
        self.writer.close()


@dataclass
class Answer:
    """An answer's status and headers (names lower-case); ``body()`` gives its body in pieces."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: Callable[[], AsyncIterator[bytes]]
    length: int | None  # Content-Length, when the server sent one


class LoopbackClient:
    def __init__(self, host: str, port: int, max_idle: int = 32, timeout: float = 300.0) -> None:
        self.host, self.port = host, port
        self._host_header = f"{host}:{port}"
        self._idle: IdlePool[_Connection] = IdlePool(max_idle)
        self._timeout = timeout

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | Callable[[asyncio.StreamWriter], Awaitable[None]] = b"",
        length: int | None = None,
    ) -> Answer:
        """Send a request: ``body`` is the whole body, or a coroutine that writes ``length`` bytes of it."""
        head = request_head(
            method, target, self._host_header, headers, len(body) if isinstance(body, bytes) else length
        )
        while True:
            connection = await self._connection()
            try:
                connection.writer.write(head)
                if isinstance(body, bytes):
                    if body:
                        connection.writer.write(body)
                else:
                    await body(connection.writer)
                await connection.writer.drain()
                status, answer_headers = await asyncio.wait_for(_read_head(connection.reader), self._timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                connection.close()
                if connection.reused and isinstance(body, bytes) and not isinstance(exc, TimeoutError):
                    continue  # the server had closed that idle connection: once more, on a new one
                raise UpstreamError(f"{type(exc).__name__}: {exc}") from exc
            return self._answer(connection, method, status, answer_headers)

    def _answer(self, connection: _Connection, method: str, status: int, headers: list[tuple[bytes, bytes]]) -> Answer:
        length: int | None = None
        chunked = close = False
        for name, value in headers:
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if method == "HEAD" or status in _NO_BODY_STATUS or 100 <= status < 200:
            length, chunked = 0, False

        async def body() -> AsyncIterator[bytes]:
            reader = connection.reader
            done = False
            try:
                if chunked:
                    async for piece in _chunks(reader):
                        yield piece
                elif length is not None:
                    left = length
                    while left:
                        piece = await reader.read(min(left, _READ_CHUNK))
                        if not piece:
                            raise UpstreamError("MLflow's server broke off its answer")
                        left -= len(piece)
                        yield piece
                else:  # no length: the body ends when the server closes the connection
                    while piece := await reader.read(_READ_CHUNK):
                        yield piece
                    return
                done = not close
            finally:
                if done:
                    self._release(connection)
                else:
                    connection.close()

        return Answer(status, headers, body, length if not chunked else None)

    async def _connection(self) -> _Connection:
        connection = self._idle.take(self.port)
        if connection is not None:
            connection.reused = True
            return connection
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 5.0)
        except (TimeoutError, OSError) as exc:
            raise UpstreamError(f"{type(exc).__name__}: {exc}") from exc
        return _Connection(reader, writer)

    def _release(self, connection: _Connection) -> None:
        self._idle.give_back(self.port, connection)
        connection.last_used = time.monotonic()

    async def aclose(self) -> None:
        self._idle.close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[bytes, bytes]]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw[:-4].split(b"\r\n")
    try:
        status = int(lines[0].split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise UpstreamError(f"not an HTTP answer: {lines[0][:80]!r}") from None
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    return status, headers


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the blank line
                pass
            return
        yield await reader.readexactly(size)
        await reader.readexactly(2)
