"""Standalone mode: a packaged replica (a container, a Kubernetes pod) answers callers holding an endpoint key.

There is no gateway in front of it, so no internal secret: instead ``EndpointKeysOnly`` wraps the
replica's app as ``InternalOnly`` does behind kiln's gateway, and lets a request through when its
``Authorization: Bearer KEY`` hashes (SHA-256) to one of the endpoint's key hashes. The replica is
given the hashes only (a file or a variable, from a Kubernetes Secret), never the keys, so a leaked
image or manifest lets nobody score. Its two health routes answer without a key: a container's
probes carry none, and they say only "live" / "ready".
"""

from __future__ import annotations

import hmac
import json
import os
import re
from pathlib import Path
from typing import Any

from kiln.authorization import bearer_credential, key_hash
from kiln.errors import InvalidSpec
from kiln.specs.replica import EndpointKeyAuth

OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})  # the probes' routes; everything else needs a key
_HASH = re.compile(r"^[0-9a-f]{64}$")
_AUTHORIZATION = b"authorization"
_REFUSAL = json.dumps(
    {"error": {"type": "Unauthorized", "message": "send one of the endpoint's keys as 'Authorization: Bearer KEY'"}}
).encode()


def read_key_hashes(auth: EndpointKeyAuth) -> tuple[str, ...]:
    """The hashes the replica accepts: the variable's when it is set, else the file's; InvalidSpec when there
    are none or one is not a SHA-256 hex digest (a plain key put there by mistake is refused, not used)."""
    value = os.environ.get(auth.variable, "").strip()
    if value:
        where, items = f"the variable {auth.variable}", value.replace(",", "\n").splitlines()
    elif auth.hashes_file is not None:
        where = f"the file {auth.hashes_file}"
        try:
            items = Path(auth.hashes_file).read_text().splitlines()
        except OSError as exc:
            raise InvalidSpec(f"endpoint_keys.hashes_file: cannot read {auth.hashes_file}: {exc.strerror}") from None
    else:
        raise InvalidSpec(
            f"endpoint_keys: no key hashes: set {auth.variable} to the SHA-256 hex digests of the endpoint's keys "
            '(comma-separated), e.g. printf %s "$KEY" | sha256sum'
        )
    hashes = tuple(item.strip().lower() for item in items if item.strip())
    bad = [number for number, item in enumerate(hashes, 1) if not _HASH.match(item)]
    if bad or not hashes:
        problem = f"item {bad[0]} is not a SHA-256 hex digest (64 hex digits)" if bad else "it holds no hash"
        raise InvalidSpec(f"endpoint_keys: {where}: {problem}; give the hashes of the keys, never the keys themselves")
    return hashes


class EndpointKeysOnly:
    """ASGI middleware: a request whose bearer key hashes to one of ``hashes`` reaches ``app``, and so do
    GETs of the health routes; any other gets 401. Lifespan events pass."""

    def __init__(self, app: Any, hashes: tuple[str, ...]) -> None:
        if not hashes:
            raise ValueError("a standalone replica needs at least one key hash")
        self.app = app
        self._hashes = tuple(h.encode() for h in hashes)

    def allows(self, header: bytes | None) -> bool:
        key = bearer_credential(header)
        if key is None:
            return False
        digest = key_hash(key).encode()
        return any([hmac.compare_digest(digest, known) for known in self._hashes])  # each compared: no early out

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        probe = scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"] in OPEN_PATHS
        header = next((value for name, value in scope["headers"] if name == _AUTHORIZATION), None)
        if probe or self.allows(header):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_REFUSAL)).encode()),
            (b"www-authenticate", b"Bearer"),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": _REFUSAL})
