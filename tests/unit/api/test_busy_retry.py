"""The SDK sends a request the server answered 429 (Busy) again after its Retry-After (kiln.sdk.rest)."""

from __future__ import annotations

import httpx
import pytest

from kiln import api
from kiln.errors import Busy
from kiln.sdk import rest
from kiln.sdk.rest import RestClient


def _client(answers: list[httpx.Response], seen: list[str]) -> RestClient:
    client = RestClient("http://kiln", token="t")

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return answers.pop(0)

    client._http = httpx.Client(base_url="http://kiln", transport=httpx.MockTransport(answer))
    return client


def _busy(after: str = "0.1") -> httpx.Response:
    body = {"error": {"type": "Busy", "message": "user 'ann' already has 2 downloads request(s) in flight"}}
    return httpx.Response(429, json=body, headers={"Retry-After": after})


def test_a_busy_answer_is_sent_again_after_retry_after() -> None:
    seen: list[str] = []
    client = _client([_busy(), _busy(), httpx.Response(200, content=b"tar")], seen)
    with client.stream(api.jobs.OUTPUT, name="j", output="default") as response:
        assert response.read() == b"tar"
    assert len(seen) == 3


def test_past_its_patience_the_sdk_raises_busy_with_the_servers_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rest, "BUSY_PATIENCE_SECONDS", 0.25)
    seen: list[str] = []
    client = _client([_busy() for _ in range(10)], seen)
    with pytest.raises(Busy, match="already has 2 downloads"):
        client.call(api.models.LIST)
    assert 2 <= len(seen) <= 4


def test_a_streamed_body_is_not_sent_twice() -> None:
    seen: list[str] = []
    client = _client([_busy()], seen)
    with pytest.raises(Busy):
        client.call(api.uploads.CREATE, params={"kind": "file"}, content=iter([b"part"]))
    assert len(seen) == 1


def test_a_file_body_is_rewound_and_sent_again_whole() -> None:
    import io

    bodies: list[bytes] = []
    answers = [_busy(), httpx.Response(201, json={"reference": "upload:abc", "kind": "file", "content_hash": "abc"})]
    client = RestClient("http://kiln", token="t")

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return answers.pop(0)

    client._http = httpx.Client(base_url="http://kiln", transport=httpx.MockTransport(answer))
    archive = io.BytesIO(b"skip..archive")
    archive.seek(6)  # the body starts where the file stands when it is handed over
    client.call(api.uploads.CREATE, params={"kind": "file"}, content=archive)
    assert bodies == [b"archive", b"archive"]
