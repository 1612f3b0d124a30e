"""Keep-alive HTTP/1.1 to kiln's own loopback servers: what the gateway's hop to its replicas
(``kiln.serving.control.replica_client``) and ``/mlflow``'s relay to MLflow's child (``kiln.tracking.loopback_http``)
share: the request's head, and the pool of idle connections.

The two clients differ where their traffic does. The gateway's answers are small and read whole: an
``asyncio.Protocol`` fed to httptools (uvicorn's C parser), no stream objects, is the cheapest hop per request. The
relay streams artifacts of any size both ways (a request body written by a coroutine, an answer handed on as it
arrives, chunked or not, with back-pressure): asyncio's streams do that, at a cost per request the relay's small
share of traffic does not feel (``/mlflow``'s hot writes are answered in-process: ``kiln.tracking.fast_writes``).
What they do the same way lives here, once.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Reusable(Protocol):
    def usable(self) -> bool:
        """Whether the connection may carry another request (open, not closed by the server, not idle too long)."""
        ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Reusable)


class IdlePool(Generic[C]):
    """Idle keep-alive connections by server (any key: an address), at most ``max_idle`` each; the most recently
    used is reused first (the likeliest still open), one that is no longer usable is closed and skipped."""

    def __init__(self, max_idle: int) -> None:
        self._idle: dict[Hashable, list[C]] = {}
        self._max_idle = max_idle

    def take(self, server: Hashable) -> C | None:
        idle = self._idle.get(server)
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    def give_back(self, server: Hashable, connection: C) -> None:
        idle = self._idle.setdefault(server, [])
        if len(idle) < self._max_idle and connection.usable():
            idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()


def request_head(method: str, target: str, host: str, headers: list[tuple[bytes, bytes]], length: int | None) -> bytes:
    """A request's head: its line, ``host``, ``content-length`` when a body of ``length`` bytes is sent (an empty one
    only where the method has a body: a POST with none says so), then the caller's headers."""
    first = f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n"  # one string, one encode: the gateway's hot path
    if length is not None and (length or method in BODY_METHODS):
        first += f"content-length: {length}\r\n"
    parts = [first.encode()]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
