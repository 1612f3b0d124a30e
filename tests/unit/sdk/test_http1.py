"""kiln.sdk.http1, the HTTP/1.1 under the SDK's plain client: each way an answer's body is framed, what a broken or
foreign answer raises, and that a CLI reaching a plain http:// workspace imports neither http.client, email nor ssl."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from kiln.sdk.http1 import Connection, ProtocolError, RemoteDisconnected


@dataclass
class Canned:
    port: int
    answers: list[bytes] = field(default_factory=list)  # b"CLOSE": close the connection after the answer before it
    received: list[bytes] = field(default_factory=list)

    def connect(self) -> Connection:
        return Connection("127.0.0.1", self.port, timeout=5)


@pytest.fixture
def canned() -> Iterator[Canned]:
    """A loopback server that answers each request with the next canned bytes, and keeps what it read."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = Canned(listener.getsockname()[1])
    answers, received = server.answers, server.received

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while answers:
                    data = _read_request(conn)
                    if not data:
                        break
                    received.append(data)
                    conn.sendall(answers.pop(0))
                    if answers and answers[0] == b"CLOSE":
                        answers.pop(0)
                        break

    threading.Thread(target=serve, daemon=True).start()
    yield server
    listener.close()


def _read_request(conn: socket.socket) -> bytes:
    """One whole request: its head, then its body by Content-Length or to its last chunk."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        while not body.endswith(b"0\r\n\r\n"):
            body += conn.recv(65536)
    elif b"content-length:" in lowered:
        length = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_body_by_length_then_a_chunked_one_on_the_same_kept_alive_connection(canned: Canned) -> None:
    answers, received = canned.answers, canned.received
    answers += [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: t\r\n\r\n",
    ]
    connection = canned.connect()
    connection.request("GET", "/a?x=1", headers={"Authorization": "Bearer t"})
    first = connection.getresponse()
    assert (first.status, first.read(), first.will_close) == (200, b"hello", False)
    assert ("X-A", "1") in first.getheaders()
    connection.request("POST", "/b", body=b'{"k":1}', headers={"Content-Type": "application/json"})
    second = connection.getresponse()
    assert second.status == 201 and second.read1(2) == b"ab" and second.read() == b"cde"
    assert second.read() == b""
    head = received[0].decode()
    assert head.startswith("GET /a?x=1 HTTP/1.1\r\n") and "Authorization: Bearer t\r\n" in head
    assert f"Host: 127.0.0.1:{canned.port}" in head
    assert received[1].endswith(b'Content-Length: 7\r\n\r\n{"k":1}')
    connection.close()


def test_a_body_of_unknown_length_goes_in_chunks_and_an_answer_without_length_ends_with_the_connection(
    canned: Canned,
) -> None:
    answers, received = canned.answers, canned.received
    answers += [b"HTTP/1.0 200 OK\r\n\r\nall of it", b"CLOSE"]
    connection = canned.connect()
    connection.request("PUT", "/c", body=iter([b"ab", "cd"]), encode_chunked=True)
    answer = connection.getresponse()
    assert answer.will_close and answer.read() == b"all of it"
    assert received[0].endswith(b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")


def test_no_body_for_head_and_204(canned: Canned) -> None:
    answers = canned.answers
    answers += [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n"]
    connection = canned.connect()
    connection.request("HEAD", "/")
    assert connection.getresponse().read() == b""
    connection.request("DELETE", "/x")
    assert connection.getresponse().status == 204


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (b"", RemoteDisconnected, "without answering"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", ProtocolError, "not an HTTP/1.x answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", ConnectionResetError, "5 bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ProtocolError, "hexadecimal"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", ProtocolError, "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", ProtocolError, "without ':'"),
    ],
)
def test_a_broken_or_foreign_answer_is_an_os_error_that_says_what_was_wrong(
    canned: Canned, answer: bytes, error: type[OSError], words: str
) -> None:
    answers = canned.answers
    answers += [answer, b"CLOSE"]
    connection = canned.connect()
    connection.request("GET", "/")
    with pytest.raises(error, match=words) as caught:
        connection.getresponse().read()
    assert isinstance(caught.value, OSError)


def test_a_cli_reaching_a_plain_workspace_imports_no_http_client_email_or_ssl() -> None:
    code = (
        "import sys; from kiln.sdk.rest import RestClient; import kiln.sdk.plain_http, kiln.sdk.simple_submit;"
        "print(sorted(m for m in ('http.client', 'email', 'ssl', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
