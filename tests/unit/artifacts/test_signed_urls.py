"""Signed read URLs of stored files (kiln.artifacts.signed_urls) and the route that serves them
(kiln.server.signed_files): a token is good for its one file until it expires; an expired, altered, foreign or
path-escaping one is refused, saying nothing of what the store holds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln.artifacts.signed_urls import MAX_SECONDS, ROUTE_PREFIX, RefusedUrl, SignedUrls
from kiln.artifacts.store import ArtifactStore
from kiln.errors import NotFound
from kiln.server.signed_files import SignedFiles

BASE = "http://kiln.test:8080"


@pytest.fixture
def signed(tmp_path: Path) -> SignedUrls:
    store = ArtifactStore(str(tmp_path / "store"))
    store.write_bytes("data/abc/f0.csv", b"a,b\n1,2\n")
    store.write_bytes("data/abc/sub/f1.csv", b"a,b\n3,4\n5,6\n")
    return SignedUrls(store, "workspace-secret", BASE + "/")


def token_of(url: str) -> str:
    assert url.startswith(BASE + ROUTE_PREFIX), url
    return url[len(BASE + ROUTE_PREFIX) :]


def test_a_token_names_its_file_until_it_expires(signed: SignedUrls) -> None:
    now = 1_800_000_000
    token = token_of(signed.url("data/abc/f0.csv", 60, now=now))
    assert signed.verify(token, now=now + 60) == "data/abc/f0.csv"
    with pytest.raises(RefusedUrl, match="expired at 2027-01-15 08:01:00 UTC; ask for a new one"):
        signed.verify(token, now=now + 61)


def test_a_lifetime_is_kept_within_a_week(signed: SignedUrls) -> None:
    now = 1_800_000_000
    token = token_of(signed.url("data/abc/f0.csv", 10 * MAX_SECONDS, now=now))
    signed.verify(token, now=now + MAX_SECONDS)
    with pytest.raises(RefusedUrl, match="expired"):
        signed.verify(token, now=now + MAX_SECONDS + 1)


@pytest.mark.parametrize("where", ["payload", "signature", "both"])
def test_an_altered_token_is_refused(signed: SignedUrls, where: str) -> None:
    payload, signature = token_of(signed.url("data/abc/f0.csv", 60)).split(".")
    other_payload, _ = signed.token("data/abc/sub/f1.csv", int(time.time()) + 60).split(".")
    forged = {
        "payload": f"{other_payload}.{signature}",
        "signature": f"{payload}.{signature[:-2]}AA",
        "both": f"{other_payload}.{'A' * len(signature)}",
    }[where]
    with pytest.raises(RefusedUrl, match="not one this workspace made, or it was altered"):
        signed.verify(forged)


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", ".abc", "a.b.c", "%2e%2e.x", "ÿ.ÿ", "x" * 5000 + ".y"])
def test_a_malformed_token_is_refused(signed: SignedUrls, token: str) -> None:
    with pytest.raises(RefusedUrl):
        signed.verify(token)


def test_another_workspaces_token_is_refused(signed: SignedUrls) -> None:
    other = SignedUrls(signed.store, "another-secret", BASE)
    with pytest.raises(RefusedUrl, match="not one this workspace made"):
        signed.verify(token_of(other.url("data/abc/f0.csv", 60)))


def test_a_path_outside_the_store_is_never_signed_nor_served(signed: SignedUrls) -> None:
    with pytest.raises(Exception, match="points outside its folder"):
        signed.url("../token", 60)
    escaping = signed.token("data/../../token", int(time.time()) + 60)  # as if this workspace had signed it
    with pytest.raises(NotFound, match="not in the artifact store"):
        signed.verify(escaping)


def test_a_folder_is_signed_file_by_file(signed: SignedUrls) -> None:
    files = signed.files("data/abc", 60)
    assert [(f.name, f.size) for f in files] == [("f0.csv", 8), ("sub/f1.csv", 12)]
    assert signed.verify(token_of(files[1].url)) == "data/abc/sub/f1.csv"
    (single,) = signed.files("data/abc/f0.csv", 60)
    assert single.name == "f0.csv" and signed.verify(token_of(single.url)) == "data/abc/f0.csv"


def test_an_object_store_signs_its_own_urls(tmp_path: Path) -> None:
    class SigningFs:
        protocol = ("s3", "s3a")

        def sign(self, path: str, expiration: int) -> str:
            return f"https://s3.test/{path}?X-Amz-Expires={expiration}&X-Amz-Signature=sig"

    store = ArtifactStore(str(tmp_path / "store"))
    store.fs, store._base, store._resolved_base = SigningFs(), "bucket/ws", None  # type: ignore[assignment]
    url = SignedUrls(store, "secret", BASE).url("data/abc/f0.csv", 90)
    assert url == "https://s3.test/bucket/ws/data/abc/f0.csv?X-Amz-Expires=90&X-Amz-Signature=sig"


# The route ------------------------------------------------------------------------------------
async def _not_here(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 599, "headers": []})
    await send({"type": "http.response.body", "body": b"the app"})


def get(signed: SignedUrls | None, path: str, method: str = "GET") -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=SignedFiles(_not_here, lambda: signed))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            return await client.request(method, path)

    return asyncio.run(call())


def test_the_route_streams_the_signed_file_and_nothing_else(signed: SignedUrls, tmp_path: Path) -> None:
    url = signed.url("data/abc/sub/f1.csv", 60)
    answer = get(signed, url[len(BASE) :])
    assert answer.status_code == 200 and answer.content == b"a,b\n3,4\n5,6\n"
    assert answer.headers["content-length"] == "12" and answer.headers["cache-control"] == "no-store"
    head = get(signed, url[len(BASE) :], "HEAD")
    assert head.status_code == 200 and head.headers["content-length"] == "12" and head.content == b""
    assert get(signed, url[len(BASE) :], "PUT").status_code == 405
    assert get(signed, "/api/v1/jobs").status_code == 599  # anything else goes on to the app


def test_the_route_refuses_without_saying_what_the_store_holds(signed: SignedUrls, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    (tmp_path / "store" / "data" / "abc" / "link.csv").symlink_to(tmp_path / "secret.txt")
    later = int(time.time()) + 60
    refused = {
        "forged": get(signed, ROUTE_PREFIX + "eA.eA"),
        "expired": get(signed, ROUTE_PREFIX + signed.token("data/abc/f0.csv", int(time.time()) - 1)),
        "escaping": get(signed, ROUTE_PREFIX + signed.token("data/../../secret.txt", later)),
        "link": get(signed, ROUTE_PREFIX + signed.token("data/abc/link.csv", later)),
        "folder": get(signed, ROUTE_PREFIX + signed.token("data/abc", later)),
        "missing": get(signed, ROUTE_PREFIX + signed.token("data/abc/gone.csv", later)),
    }
    assert {name: answer.status_code for name, answer in refused.items()} == {
        "forged": 403, "expired": 403, "escaping": 404, "link": 404, "folder": 404, "missing": 404,
    }  # fmt: skip
    for answer in refused.values():
        assert "outside" not in answer.text and str(tmp_path) not in answer.text
        assert answer.json()["error"]["message"]
    assert get(None, ROUTE_PREFIX + "eA.eA").status_code == 503  # the server still starting
