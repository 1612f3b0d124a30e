"""The SDK's standard-library HTTP client (kiln.sdk.plain_http), through RestClient, against a real HTTP server on
loopback in this process: the same requests and answers as through httpx, kept-alive connections, and a broken
connection as ``Unavailable``."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kiln import api
from kiln.errors import NotFound, Unavailable
from kiln.sdk import plain_http
from kiln.sdk.plain_http import PlainHttpClient
from kiln.sdk.rest import RestClient

UPLOAD = {"reference": "upload:" + "a" * 64, "kind": "file", "content_hash": "a" * 64}


class Recorder:
    """What the server saw, and what it answers next (a list of handlers, one per request)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.connections: set[int] = set()
        self.close_after = False  # answer with "Connection: close"
        self.drop_after = False  # close the connection after answering, unannounced (as an idle timeout does)


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def log_message(self, *_args: object) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding") == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    chunk = self.rfile.read(size + 2)[:size]
                    if not size:
                        return data
                    data += chunk
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if recorder.close_after:
                self.send_header("Connection", "close")
            self.close_connection = recorder.close_after or recorder.drop_after
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            recorder.connections.add(self.client_address[1])
            body = self._body()
            recorder.requests.append(
                {"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"), "body": body}
            )
            if self.path.startswith("/api/v1/jobs/missing"):
                self._answer(
                    404, json.dumps({"error": {"type": "NotFound", "message": "job 'missing' not found"}}).encode()
                )
            elif self.path.startswith("/api/v1/jobs/j/log"):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for data in (b"first line\r", b"\nsecond \xc3", b"\xa9", b"third\n"):  # \xc3\xa9: an e acute
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.write(b"0\r\n\r\n")
            elif self.path.startswith("/api/v1/uploads"):
                self._answer(201, json.dumps(UPLOAD).encode())
            else:
                self._answer(200, b"[]")

        do_GET = do_POST = _handle

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    httpd.shutdown()
    httpd.server_close()


def test_a_plain_http_workspace_without_a_proxy_is_reached_without_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in plain_http.PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert isinstance(RestClient("http://127.0.0.1:8765", "t")._http, PlainHttpClient)
    assert not isinstance(RestClient("https://kiln.example.org", "t")._http, PlainHttpClient)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.org:3128")
    assert not isinstance(RestClient("http://kiln.example.org", "t")._http, PlainHttpClient)  # httpx: the proxy


def test_calls_send_the_token_and_query_as_httpx_does_and_reuse_one_connection(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    rest = RestClient(url, "secret")
    assert isinstance(rest._http, PlainHttpClient)
    assert rest.call(api.jobs.LIST, params={"limit": 5, "status": "queued"}) == []
    assert rest.call(api.jobs.LIST, params={"limit": 1}) == []
    with rest.stream(api.jobs.LOGS, name="j", params={"follow": True}) as response:
        assert response.status_code == 200
        response.read()
    assert rest.call(api.jobs.LIST, params={"tag": ["kiln.parent=s", "a=b"]}) == []  # a list: each item, as httpx
    assert [r["path"] for r in recorder.requests] == [
        "/api/v1/jobs?limit=5&status=queued", "/api/v1/jobs?limit=1", "/api/v1/jobs/j/logs?follow=true",
        "/api/v1/jobs?tag=kiln.parent%3Ds&tag=a%3Db",
    ]  # fmt: skip
    assert {r["auth"] for r in recorder.requests} == {"Bearer secret"}
    assert len(recorder.connections) == 1  # kept alive


def test_an_error_answer_is_the_servers_error(server: tuple[str, Recorder]) -> None:
    url, _ = server
    with pytest.raises(NotFound, match="job 'missing' not found"):
        RestClient(url, "t").call(api.jobs.SHOW, name="missing", params={"run_data": False})


def test_streamed_text_and_lines_split_across_chunks_are_whole(server: tuple[str, Recorder]) -> None:
    url, _ = server
    rest = RestClient(url, "t")
    with rest.stream(api.jobs.LOGS, name="j", params={"follow": False}) as response:
        text = "".join(response.iter_text())
    assert text == "first line\r\nsecond é" + "third\n"  # an é cut between two chunks is decoded whole
    with rest.stream(api.jobs.LOGS, name="j", params={"follow": False}) as response:
        assert list(response.iter_lines()) == ["first line", "second éthird"]  # \r then \n: one line end


def test_bodies_of_unknown_length_are_sent_in_chunks(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    rest = RestClient(url, "t")
    rest.call(api.uploads.CREATE, params={"kind": "file"}, content=io.BytesIO(b"an archive"))
    rest.call(api.uploads.CREATE, params={"kind": "file"}, content=iter([b"part one, ", b"part two"]))
    assert [r["body"] for r in recorder.requests] == [b"an archive", b"part one, part two"]


def test_a_connection_the_server_closed_while_idle_is_replaced(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    rest = RestClient(url, "t")
    recorder.close_after = True
    rest.call(api.jobs.LIST, params={"limit": 1})
    recorder.close_after = False
    rest.call(api.jobs.LIST, params={"limit": 1})
    rest.call(api.uploads.CREATE, params={"kind": "file"}, content=b"bytes")
    assert len(recorder.requests) == 3 and len(recorder.connections) == 2
    recorder.drop_after = True
    rest.call(api.jobs.LIST, params={"limit": 1})  # kept: the server said nothing of closing it
    recorder.drop_after = False
    time.sleep(0.2)  # the server has closed it by now
    rest.call(api.uploads.CREATE, params={"kind": "file"}, content=b"bytes")  # a POST, on a new connection
    assert len(recorder.requests) == 5 and len(recorder.connections) == 3  # the 4th reused the 2nd, the 5th a new one


def test_no_server_is_unavailable_naming_the_workspace() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    with pytest.raises(Unavailable, match=f"cannot reach the kiln workspace at http://127.0.0.1:{port}"):
        RestClient(f"http://127.0.0.1:{port}", "t").call(api.jobs.LIST, params={"limit": 1})


def test_the_callers_work_runs_once_while_the_server_works_on_the_request(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    client = PlainHttpClient(url, {}, timeout=10, connect_timeout=5)
    seen: list[int] = []  # requests the server had received when the work ran
    for _ in range(2):
        response = client.request("GET", "/api/v1/jobs", while_waiting=lambda: seen.append(len(recorder.requests)))
        assert response.status_code == 200 and response.json() == []
    recorder.drop_after = True
    client.request("GET", "/api/v1/jobs")
    recorder.drop_after = False
    time.sleep(0.2)  # the kept-alive connection is closed by now: the GET is sent again, the work runs once
    client.request("GET", "/api/v1/jobs", while_waiting=lambda: seen.append(-1))
    assert seen[-1] == -1 and len(seen) == 3
    assert seen[0] in (0, 1) and seen[1] in (1, 2)  # after sending, before reading its answer
