"""HTTP/1.1 over one socket, the little of ``http.client`` that :mod:`kiln.sdk.plain_http` uses: a request with a
body of known length or sent in chunks, and its answer framed by ``Content-Length``, chunks or the connection's end.

``http.client`` imports the ``email`` package to read headers and ``ssl`` whether or not a connection uses TLS:
about a tenth of a short CLI command's start (issue 13). A plain ``http://`` workspace needs neither. Every failure is
an ``OSError``: a closed or reset connection a ``ConnectionResetError`` (:class:`RemoteDisconnected` when the server
closed it before answering: an idle kept-alive connection), an answer that is not HTTP a :class:`ProtocolError`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any, BinaryIO

MAX_LINE = 65536  # a status line, a header line, a chunk's size line
MAX_HEADERS = 100
BLOCK = 64 * 1024  # a file body is read and sent in blocks of this size
NO_BODY_STATUSES = frozenset({204, 304})


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without answering."""


class ProtocolError(OSError):
    """The answer is not HTTP/1.x as this client reads it."""


class Connection:
    """One connection to ``host:port``, opened when first used, within ``timeout`` seconds."""

    def __init__(self, host: str, port: int, timeout: float | None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self._reader: BinaryIO | None = None
        self._method = "GET"

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = self.sock.makefile("rb")

    def close(self) -> None:
        sock, reader, self.sock, self._reader = self.sock, self._reader, None, None
        if reader is not None:
            reader.close()
        if sock is not None:
            sock.close()

    def request(
        self, method: str, target: str, body: Any = None, headers: dict[str, str] | None = None,
        encode_chunked: bool = False,
    ) -> None:  # fmt: skip
        """Send the request: ``body`` bytes (with their length), or a file or an iterable of bytes sent in chunks."""
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self._method = method
        head = {"Host": self.host if self.port == 80 else f"{self.host}:{self.port}", "Accept-Encoding": "identity"}
        head.update(headers or {})
        if encode_chunked:
            head["Transfer-Encoding"] = "chunked"
        elif body is not None or method in ("POST", "PUT", "PATCH"):
            head["Content-Length"] = str(len(body) if body is not None else 0)
        lines = [f"{method} {target} HTTP/1.1", *(f"{key}: {value}" for key, value in head.items()), "", ""]
        data = "\r\n".join(lines).encode("latin-1")
        if body is not None and not encode_chunked:
            self.sock.sendall(data + bytes(body))
            return
        self.sock.sendall(data)
        if encode_chunked:
            for block in _blocks(body):
                if block:
                    self.sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
            self.sock.sendall(b"0\r\n\r\n")

    def getresponse(self) -> Response:
        if self._reader is None:
            raise RemoteDisconnected("the connection is closed")
        return Response(self._reader, self._method)


class Response:
    """An answer's status and headers, read at once; its body read as asked (``read``, ``read1``)."""

    def __init__(self, reader: BinaryIO, method: str) -> None:
        self._reader = reader
        status_line = reader.readline(MAX_LINE + 1)
        if not status_line:
            raise RemoteDisconnected("the server closed the connection without answering")
        version, _, rest = status_line.decode("latin-1").rstrip("\r\n").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit() or len(status_line) > MAX_LINE:
            raise ProtocolError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        self.status = int(code)
        self._headers = _read_headers(reader)
        values = {key.lower(): value for key, value in self._headers}
        connection = values.get("connection", "").lower()
        self.will_close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        self._chunked = "chunked" in values.get("transfer-encoding", "").lower()
        self._left: int | None = None  # bytes left of the body (chunked: of the current chunk); None: to the end
        self._done = False
        if method == "HEAD" or self.status in NO_BODY_STATUSES or 100 <= self.status < 200:
            self._done = True
        elif not self._chunked:
            length = values.get("content-length")
            if length is not None:
                if not length.strip().isdigit():
                    raise ProtocolError(f"a Content-Length that is not a number: {length!r}")
                self._left = int(length)
                self._done = self._left == 0
            else:
                self.will_close = True  # the body ends where the connection does

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self._headers)

    def read1(self, size: int) -> bytes:
        """Some of the body (at most ``size`` bytes, at least one unless it has ended), with one read at most."""
        return self._read(size, whole=False)

    def read(self, size: int | None = None) -> bytes:
        """``size`` bytes of the body (fewer only at its end); without ``size``, the rest of it."""
        if size is None:
            parts = []
            while chunk := self._read(BLOCK, whole=False):
                parts.append(chunk)
            return b"".join(parts)
        return self._read(size, whole=True)

    def close(self) -> None:
        self._done = True

    def _read(self, size: int, whole: bool) -> bytes:
        if self._done or size <= 0:
            return b""
        if self._chunked:
            return self._read_chunked(size, whole)
        if self._left is None:  # to the connection's end
            data = self._reader.read(size) if whole else self._reader.read1(size)
            self._done = not data
            return data
        want = min(size, self._left)
        data = self._reader.read(want) if whole else self._reader.read1(want)
        if not data:
            raise ConnectionResetError(f"the connection closed with {self._left} bytes of the answer still to come")
        self._left -= len(data)
        self._done = self._left == 0
        return data

    def _read_chunked(self, size: int, whole: bool) -> bytes:
        parts: list[bytes] = []
        wanted = size
        while wanted > 0 and not self._done:
            if not self._left:
                self._left = self._chunk_size()
                if self._left == 0:
                    _read_headers(self._reader)  # the trailer, if any, and the empty line
                    self._done = True
                    break
            data = self._reader.read1(min(wanted, self._left))
            if not data:
                raise ConnectionResetError("the connection closed in the middle of a chunk of the answer")
            self._left -= len(data)
            if self._left == 0:
                self._reader.readline(MAX_LINE)  # the chunk's CRLF
            parts.append(data)
            wanted -= len(data)
            if not whole:
                break
        return b"".join(parts)

    def _chunk_size(self) -> int:
        line = self._reader.readline(MAX_LINE + 1)
        if not line:
            raise ConnectionResetError("the connection closed before the answer's last chunk")
        text = line.split(b";", 1)[0].strip()
        try:
            return int(text, 16)
        except ValueError:
            raise ProtocolError(f"a chunk size that is not hexadecimal: {line[:40]!r}") from None


def _read_headers(reader: BinaryIO) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.readline(MAX_LINE + 1)
        if not line:
            raise ConnectionResetError("the connection closed in the middle of the answer's headers")
        if line in (b"\r\n", b"\n"):
            return headers
        if len(line) > MAX_LINE or len(headers) >= MAX_HEADERS:
            raise ProtocolError("the answer's headers are too long")
        key, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise ProtocolError(f"a header line without ':': {line[:80]!r}")
        headers.append((key.strip(), value.strip()))


def _blocks(body: Any) -> Iterable[bytes]:
    """A chunked body's blocks: a file read in blocks, or the items of an iterable (text encoded)."""
    if hasattr(body, "read"):
        while block := body.read(BLOCK):
            yield block.encode() if isinstance(block, str) else block
        return
    for block in body:
        yield block.encode() if isinstance(block, str) else bytes(block)
