"""The one reader of ``Authorization`` headers: the workspace's REST API and ``/mlflow`` (its token
middleware) and the scoring gateway (endpoint keys) all take their bearer credential from here, so
a header that one accepts the others accept too.

RFC 7235 §2.1 makes the scheme case-insensitive (``Bearer``, ``bearer`` and ``BEARER`` are one
scheme) and separates it from the credential by one or more spaces; RFC 6750's credential is a
single token68, so a header with anything after it, or any scheme but Bearer, carries no bearer
credential.
"""

from __future__ import annotations

import hashlib

_SCHEME = "bearer"


def key_hash(key: str) -> str:
    """What is stored of an endpoint key: its SHA-256, in hex (the gateway's routes, a packaged replica's Secret)."""
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_credential(header: bytes | str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <credential>`` header; None when there is none."""
    if header is None:
        return None
    value = header.decode("latin-1") if isinstance(header, bytes) else header
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != _SCHEME:
        return None
    words = rest.split()
    return words[0] if len(words) == 1 else None
