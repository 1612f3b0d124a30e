"""Probes of ``GET /signed-files/{token}``, the signed read URLs a Ray cluster reads a batch job's input through
(kiln.artifacts.signed_urls, kiln.server.signed_files). It needs no kiln token, so the signature is the whole of its
protection: a forged, altered, expired or foreign token is refused (403) before the store is asked anything; a token
signed for a path outside the store, or for a symbolic link leading out of it, reads nothing (404); a user's kiln
token adds nothing; no refusal shows a byte of the workspace's files. Tokens here are signed with the workspace's
secret by the probe itself, as only the server (or someone holding the workspace token) could."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kiln.artifacts.signed_urls import ROUTE_PREFIX, SignedUrls
from kiln.artifacts.store import ArtifactStore
from kiln.jobs.folders import log_key, outputs_key
from tests.conftest import WorkspaceServer
from tests.security.conftest import PROBE_REPORT, Seeded, Team, bearer_http


@pytest.fixture(scope="module")
def signer(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> SignedUrls:
    """Tokens as the server signs them (its secret is derived from the workspace token)."""
    return SignedUrls(ArtifactStore(str(tmp_path_factory.mktemp("unused"))), team.workspace_token, security_server.url)


@pytest.fixture
def anonymous(security_server: WorkspaceServer) -> Iterator[httpx.Client]:
    with bearer_http(security_server, None) as client:
        yield client


def later() -> int:
    return int(time.time()) + 600


def test_a_signed_url_reads_its_one_file_without_a_kiln_token(
    anonymous: httpx.Client, signer: SignedUrls, seeded: Seeded, security_server: WorkspaceServer
) -> None:
    store = security_server.home / "artifacts"
    report = next((store / outputs_key(seeded.job_id)).rglob(PROBE_REPORT))  # the seeded job's report, as kept
    for key in (report.relative_to(store).as_posix(), log_key(seeded.job_id)):
        answer = anonymous.get(ROUTE_PREFIX + signer.token(key, later()))
        assert answer.status_code == 200 and answer.content == (store / key).read_bytes(), key
    assert b"job_token" in report.read_bytes()  # a file with something in it was read


@pytest.mark.parametrize("forged", ["", "x", "eA.eA", "a.b.c", "..%2F..%2Ftoken", "%2e%2e/%2e%2e/token"])
def test_a_forged_token_is_refused_before_anything_is_looked_up(
    anonymous: httpx.Client, security_server: WorkspaceServer, team: Team, forged: str
) -> None:
    for client in (anonymous, team.owner.http(security_server)):  # a kiln token adds nothing
        answer = client.get(ROUTE_PREFIX + forged)
        assert answer.status_code in (403, 404), answer.text
        assert answer.json()["error"]["type"] in ("RefusedUrl", "NotFound")
        assert team.workspace_token not in answer.text


def test_an_altered_expired_or_foreign_token_is_refused(
    anonymous: httpx.Client, signer: SignedUrls, seeded: Seeded, security_server: WorkspaceServer
) -> None:
    good = signer.token(log_key(seeded.job_id), later())
    other_path, _ = signer.token("token", later()).split(".")
    foreign = SignedUrls(signer.store, "another workspace's token", security_server.url)
    refused = {
        "another path, this signature": f"{other_path}.{good.split('.')[1]}",
        "expired": signer.token(log_key(seeded.job_id), int(time.time()) - 1),
        "another workspace's": foreign.token(log_key(seeded.job_id), later()),
        "signature cut": good[:-4],
    }
    for what, token in refused.items():
        answer = anonymous.get(ROUTE_PREFIX + token)
        assert answer.status_code == 403, (what, answer.text)
        assert answer.json()["error"]["type"] == "RefusedUrl" and "ask for a new one" in answer.text, what


def test_a_signed_path_outside_the_store_or_through_a_link_reads_nothing(
    anonymous: httpx.Client, signer: SignedUrls, security_server: WorkspaceServer, team: Team
) -> None:
    store = security_server.home / "artifacts"
    assert store.is_dir(), sorted(p.name for p in security_server.home.iterdir())
    link = store / "probe-link.txt"
    link.symlink_to(security_server.home / "token")
    try:
        for key in ("../token", "../../etc/passwd", "jobs/../../token", "probe-link.txt", "jobs", "no/such/file"):
            answer = anonymous.get(ROUTE_PREFIX + signer.token(key, later()))
            assert answer.status_code == 404, (key, answer.text)
            assert team.workspace_token not in answer.text and "root:" not in answer.text
    finally:
        link.unlink()
    assert not Path(link).exists()


def test_only_get_and_head_are_answered(anonymous: httpx.Client, signer: SignedUrls, seeded: Seeded) -> None:
    path = ROUTE_PREFIX + signer.token(log_key(seeded.job_id), later())
    assert anonymous.head(path).status_code == 200
    for method in ("PUT", "POST", "DELETE"):
        assert anonymous.request(method, path).status_code == 405
