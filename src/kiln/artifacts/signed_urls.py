"""Signed, time-limited read URLs for files of the artifact store: what a process on another machine (a Ray
cluster's actors) reads a job's input through, with no kiln token and no copy of the files.

An ``s3://`` store signs its own: the object store's presigned GET URL (``ArtifactStore.presigned_url``). A local
folder store is read through the workspace server: ``GET {workspace}/signed-files/{token}``, where the token is
``base64url(expiry:key).base64url(HMAC-SHA256)`` under a key derived from the workspace's secret (as browser sessions
derive theirs). The server streams the one file the token names, through the store's own checks (no ``..``, no
symbolic link followed); an expired, altered or malformed token is refused before anything is looked up, so a
refusal says nothing of what the store holds (``kiln.server.signed_files``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass

from kiln.artifacts.references import relative_path
from kiln.artifacts.store import ArtifactStore
from kiln.errors import Forbidden, InvalidSpec, NotFound

ROUTE_PREFIX = "/signed-files/"
MAX_SECONDS = 7 * 24 * 3600  # an S3 presigned URL (SigV4) lives a week at most
MAX_TOKEN_LENGTH = 4096
_PURPOSE = b"kiln-signed-files"


class RefusedUrl(Forbidden):
    """A signed URL that is not (or no longer) good: expired, altered, or not one kiln made."""


@dataclass(frozen=True)
class SignedFile:
    name: str  # relative to the signed folder (a single file: its own name)
    size: int
    url: str


class SignedUrls:
    """Makes and checks the signed URLs of one workspace (its store, its secret, its address)."""

    def __init__(self, store: ArtifactStore, secret: str, base_url: str) -> None:
        self.store = store
        self._key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
        self._base_url = base_url.rstrip("/")

    def url(self, key: str, seconds: int, now: float | None = None) -> str:
        """A URL that reads the stored file ``key`` for ``seconds`` (at most a week)."""
        key = relative_path(key, "artifact key")
        seconds = max(1, min(int(seconds), MAX_SECONDS))
        presigned = self.store.presigned_url(key, seconds)
        if presigned is not None:
            return presigned
        return f"{self._base_url}{ROUTE_PREFIX}{self.token(key, int(now or time.time()) + seconds)}"

    def files(self, key: str, seconds: int) -> list[SignedFile]:
        """A URL for each regular file at or below ``key`` (a file: itself, named by its own name), name order."""
        folder = self.store.is_dir(key)
        return [
            SignedFile(name, size, self.url(f"{key}/{name}" if folder else key, seconds))
            for name, size in self.store.file_sizes(key)
        ]

    def token(self, key: str, expires: int) -> str:
        payload = f"{expires}:{key}".encode()
        return f"{_encode(payload)}.{_encode(self._signature(payload))}"

    def verify(self, token: str, now: float | None = None) -> str:
        """The store key a token names, once its signature and expiry are checked (RefusedUrl otherwise)."""
        encoded, dot, signature = token.partition(".")
        payload = _decode(encoded) if dot and len(token) <= MAX_TOKEN_LENGTH else None
        given = _decode(signature) if payload is not None else None
        if payload is None or given is None or not hmac.compare_digest(given, self._signature(payload)):
            raise RefusedUrl("this signed URL is not one this workspace made, or it was altered; ask for a new one")
        expires, _, key = payload.decode("utf-8", "replace").partition(":")
        if not expires.isdigit():  # signed by this workspace, so never expected; refused all the same
            raise RefusedUrl("this signed URL names no expiry; ask for a new one")
        if (now or time.time()) > int(expires):
            raise RefusedUrl(
                f"this signed URL expired at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(int(expires)))}; "
                "ask for a new one (a job's input URLs last as long as its limits.timeout)"
            )
        try:
            return relative_path(key, "signed file")
        except InvalidSpec:
            raise NotFound("the signed file is not in the artifact store") from None

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes | None:
    if not text or not text.replace("-", "a").replace("_", "a").isalnum() or not text.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
