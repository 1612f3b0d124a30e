"""The SDK's HTTP client for a plain ``http://`` workspace with no proxy (the embedded one, a job's, one on the
LAN): HTTP/1.1 on the standard library's sockets (:mod:`kiln.sdk.http1`) with kept-alive connections, in the shape
of the few parts of ``httpx.Client`` that :class:`kiln.sdk.rest.RestClient` uses (``request``, ``stream``,
``close``; a response's ``status_code``, ``headers``, ``content``, ``text``, ``json()``, ``read()``, ``iter_bytes``,
``iter_text``, ``iter_lines``). A CLI command that calls the workspace once does not pay for importing httpx and
building its TLS context (about 90 ms together), nor ``http.client``'s ``email`` and ``ssl``; an ``https://``
workspace, or one reached through a proxy, goes through httpx (``RestClient`` picks: :func:`usable_for`).

Every failure of the connection (refused, reset, timed out, closed early) is raised as :class:`ConnectionLost`,
also while a streamed answer is read. A kept-alive connection the server closed while it was idle is replaced
before use, and an idempotent request that finds it closed anyway is sent once more on a new one (never a
POST: the server may have acted on it).
"""

from __future__ import annotations

import codecs
import json as jsonlib
import os
import re
import select
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

from kiln.sdk import http1

CHUNK = 64 * 1024
_LINE_END = re.compile(r"\r\n|\r|\n")
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")


class ConnectionLost(Exception):
    """The workspace could not be reached, or the connection broke before the answer was complete."""


def usable_for(url: str) -> bool:
    """Whether :class:`PlainHttpClient` can reach ``url``: plain http, no proxy configured for it."""
    return urlsplit(url).scheme == "http" and not any(os.environ.get(name) for name in PROXY_VARIABLES)


class Headers:
    """An answer's headers, looked up in any case (``headers.get("retry-after")``)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for key, value in pairs:
            key = key.lower()
            self._values[key] = f"{self._values[key]}, {value}" if key in self._values else value

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._values.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return self._values[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._values


class Response:
    """One answer; its body read whole (``content``) or as it arrives (``iter_bytes`` and the like)."""

    def __init__(self, raw: http1.Response, connection: http1.Connection, done: Any) -> None:
        self._raw, self._connection = raw, connection
        self._done = done  # called once the body is read to its end (the connection can be used again)
        self._finished = False
        self.status_code = raw.status
        self.headers = Headers(raw.getheaders())
        self._content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_bytes())
        return self._content

    def read(self) -> bytes:
        return self.content

    @property
    def encoding(self) -> str:
        for part in (self.headers.get("content-type") or "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        if self._content is not None:
            yield self._content
            return
        size = chunk_size or CHUNK
        try:
            while True:
                chunk = self._raw.read1(size) if chunk_size is None else self._raw.read(size)
                if not chunk:
                    break
                yield chunk
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"the answer broke off: {_why(exc)}") from exc
        self._raw.close()  # read to its end: the connection may carry another request (it keeps its socket)
        if not self._finished:
            self._finished = True
            self._done()

    def iter_text(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        for chunk in self.iter_bytes():
            text = decoder.decode(chunk)
            if text:
                yield text
        rest = decoder.decode(b"", final=True)
        if rest:
            yield rest

    def iter_lines(self) -> Iterator[str]:
        """The answer's lines without their ends (``\\n``, ``\\r\\n`` or ``\\r``, as httpx splits them), as they arrive."""
        pending = ""
        for text in self.iter_text():
            buffer = pending + text
            held = "\r" if buffer.endswith("\r") else ""  # may be the first half of \r\n
            parts = _LINE_END.split(buffer[: len(buffer) - len(held)])
            pending = parts.pop() + held  # the line still arriving
            yield from parts
        if pending:
            yield pending.removesuffix("\r")

    def close(self) -> None:
        """Drop the connection if the answer was not read to its end (it cannot carry the next request)."""
        if not self._finished:
            self._finished = True
            self._connection.close()


class PlainHttpClient:
    """Requests to one ``http://host:port[/prefix]`` with ``headers`` on each; thread-safe (a connection per
    request in flight, idle ones kept for the next)."""

    def __init__(self, base_url: str, headers: Mapping[str, str], timeout: float, connect_timeout: float) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "localhost", parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers)
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._idle: list[http1.Connection] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, url: str, *, params: Mapping[str, Any] | None = None, json: Any = None, content: Any = None,
        while_waiting: Callable[[], object] | None = None,
    ) -> Response:  # fmt: skip
        """The answer, read whole; ``while_waiting`` is called once the request is sent, before its answer is read
        (work of the caller's that the server's time hides)."""
        response = self._send(method, url, params, json, content, self._timeout, while_waiting)
        response.content  # noqa: B018  read whole: the connection is free again
        return response

    @contextmanager
    def stream(
        self, method: str, url: str, *, timeout: float | None = None, params: Mapping[str, Any] | None = None,
        json: Any = None, content: Any = None,
    ) -> Iterator[Response]:  # fmt: skip
        """The answer to read as it arrives; ``timeout`` bounds each wait for more of it (None: no bound)."""
        response = self._send(method, url, params, json, content, timeout)
        try:
            yield response
        finally:
            response.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _send(
        self, method: str, url: str, params: Mapping[str, Any] | None, json: Any, content: Any, timeout: float | None,
        while_waiting: Callable[[], object] | None = None,
    ) -> Response:  # fmt: skip
        target = self._prefix + url + (f"?{urlencode(_query_pairs(params))}" if params else "")
        headers = dict(self._headers)
        body: Any = content
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        elif isinstance(content, str):
            body = content.encode()
        start = body.tell() if callable(getattr(body, "seekable", None)) and body.seekable() else None
        # sent again on a new connection when a kept-alive one turns out closed: an idempotent request (RFC 9110
        # 9.2.2) whose body can be sent twice; a POST is not (the server may have acted on it): Unavailable
        resendable = method in IDEMPOTENT and (body is None or isinstance(body, bytes) or start is not None)
        connection, reused = self._connection()
        waiting = [while_waiting] if while_waiting is not None else []  # called once, also if the request is resent
        try:
            try:
                raw = self._exchange(connection, method, target, body, headers, timeout, waiting)
            except (ConnectionResetError, BrokenPipeError):  # http1.RemoteDisconnected among them
                connection.close()
                if not (reused and resendable):
                    raise
                if start is not None:
                    body.seek(start)
                connection, reused = self._new_connection(), False  # the server had closed the idle connection
                raw = self._exchange(connection, method, target, body, headers, timeout, waiting)
        except OSError as exc:
            connection.close()
            raise ConnectionLost(_why(exc)) from exc
        return Response(raw, connection, lambda: self._release(connection, raw))

    def _exchange(
        self, connection: http1.Connection, method: str, target: str, body: Any, headers: dict[str, str],
        timeout: float | None, waiting: list[Callable[[], object]],
    ) -> http1.Response:  # fmt: skip
        if connection.sock is None:
            connection.connect()  # within the connect timeout
        connection.sock.settimeout(timeout)
        connection.request(method, target, body=body, headers=headers, encode_chunked=_chunked(body))
        while waiting:
            waiting.pop()()
        return connection.getresponse()

    def _connection(self) -> tuple[http1.Connection, bool]:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._new_connection(), False
            if connection.sock is not None and not _closed_by_peer(connection.sock):
                return connection, True
            connection.close()

    def _new_connection(self) -> http1.Connection:
        return http1.Connection(self._host, self._port, timeout=self._connect_timeout)

    def _release(self, connection: http1.Connection, raw: http1.Response) -> None:
        if raw.will_close or connection.sock is None:
            connection.close()
            return
        with self._lock:
            self._idle.append(connection)


def _chunked(body: Any) -> bool:
    """A body of unknown length (a file, a generator) is sent in chunks; bytes with their length."""
    return body is not None and not isinstance(body, bytes | bytearray | memoryview)


def _closed_by_peer(sock: Any) -> bool:
    """An idle kept-alive socket that is readable has been closed by the server (or holds junk): not reused."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _query_pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The query's pairs as httpx writes them: a list's items each under its key (``tag=a=1&tag=b=2``)."""
    return [
        (key, _query_value(item))
        for key, value in params.items()
        for item in (value if isinstance(value, list | tuple) else [value])
    ]


def _query_value(value: Any) -> str:
    """A query parameter as httpx writes it: ``true``/``false`` for booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
