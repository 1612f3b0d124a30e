"""The gateway's hop to the replicas: a small pooled HTTP/1.1 client over asyncio protocols (its request head and
idle pool: ``kiln.keepalive``, shared with ``/mlflow``'s relay, which streams where this reads whole).

Both ends are ours (the replicas are kiln's own uvicorn processes on loopback), so the client
needs only what they speak: one request at a time per keep-alive connection, a whole body
with ``Content-Length``, an answer parsed by httptools (uvicorn's own C parser) and read whole.
That is a fraction of a general client's CPU per request (aiohttp's session was a third of the
gateway's), which is what a proxy hop on the hot path is made of.

``exchange`` raises ``ReplicaUnreachable`` when the request may not have been answered (refused,
reset, closed before the answer was complete): the caller may try another replica. A pooled
connection that the replica closed while idle is noticed and replaced without the caller seeing it.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

import httptools

from kiln.keepalive import IdlePool, request_head

CONNECT_TIMEOUT_S = 2.0
MAX_IDLE_PER_REPLICA = 256


class ReplicaUnreachable(Exception):
    """Not answered whole: the request can go to another replica."""


class Answer(NamedTuple):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``answer`` is the future of the request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.answer: asyncio.Future[Answer] | None = None
        self.answered_before = False  # a connection that has answered once may have gone stale since
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._started = False  # a byte of the answer has arrived
        self._head = False  # the request in flight is a HEAD: its answer has headers only

    # --- asyncio.Protocol ---
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._started = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ReplicaUnreachable(f"unreadable answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ReplicaUnreachable(f"the replica closed the connection{': ' + str(exc) if exc else ''}"))

    # --- httptools callbacks ---
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._head:  # the parser, which knows no request, would wait for the body a HEAD never gets
            self.on_message_complete(reusable=False)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self, reusable: bool = True) -> None:
        if self.answer is None:
            return  # a HEAD's answer, already complete
        answer = Answer(self._parser.get_status_code(), self._headers, b"".join(self._body))
        if not reusable or not self._parser.should_keep_alive():
            self.close()
        self.answered_before = True
        future, self.answer = self.answer, None
        if future is not None and not future.done():
            future.set_result(answer)

    # --- use ---
    def send(self, request: bytes, future: asyncio.Future[Answer], head: bool = False) -> None:
        self._headers, self._body, self._started, self._head = [], [], False, head
        self.answer = future
        assert self.transport is not None
        self.transport.write(request)

    @property
    def started(self) -> bool:
        return self._started

    def usable(self) -> bool:
        return not self.closed  # the replica's close is seen at once (connection_lost)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: Exception) -> None:
        self.close()
        future, self.answer = self.answer, None
        if future is not None and not future.done():
            future.set_exception(error)


class ReplicaClient:
    """Keep-alive connections per replica address (``host:port``), reused one request at a time."""

    def __init__(self) -> None:
        self._idle: IdlePool[_Connection] = IdlePool(MAX_IDLE_PER_REPLICA)

    async def exchange(
        self, host: str, port: int, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        """The replica's whole answer. Caller bounds it in time (asyncio.timeout); a cancelled or
        timed-out exchange closes its connection, which is then in an unknown state."""
        request = request_head(method, target, f"{host}:{port}", headers, len(body)) + body
        address = (host, port)
        while True:
            connection = self._idle.take(address)
            fresh = connection is None
            if connection is None:
                connection = await self._connect(host, port)
            try:
                answer = await self._send(connection, request, method == "HEAD")
            except ReplicaUnreachable:
                # a reused connection the replica closed while idle (its keep-alive timeout) just
                # before this request: nothing was answered; once more on a new connection
                if fresh or connection.started:
                    raise
                continue
            self._idle.give_back(address, connection)  # unless the replica closed it
            return answer

    async def _send(self, connection: _Connection, request: bytes, head: bool) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        connection.send(request, future, head)
        try:
            return await future
        except BaseException:
            connection.close()  # cancelled or failed mid-exchange: never reused
            raise

    async def _connect(self, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _transport, connection = await loop.create_connection(_Connection, host, port)
        except TimeoutError as exc:
            raise ReplicaUnreachable(f"no connection to {host}:{port} in {CONNECT_TIMEOUT_S:g} s") from exc
        except OSError as exc:
            raise ReplicaUnreachable(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from exc
        return connection

    def close(self) -> None:
        self._idle.close()
