"""The encrypted scoring protocol's body: one binary frame, ``MAGIC``, a 4-byte big-endian header length,
a JSON header (which names the blobs' lengths), then the blobs (serialized TenSEAL objects) back to back.

Requests:

- ``GET  <scoring URI base>/encrypted``: the model's shape and the CKKS parameters a context must have;
- ``POST .../encrypted/contexts`` (body: a public TenSEAL context): ``{"context_id": ...}``;
- ``POST .../encrypted/score``: header ``{"context_id", "chunks": [{"rows", "row_block", "per_ciphertext",
  "ciphertexts"}]}`` and one blob per ciphertext; the answer's header ``{"chunks": [{"outputs": k}]}`` and
  ``k`` ciphertexts per chunk. A linear model's feature-major ciphertexts (``per_ciphertext`` 1) may come
  at a lower level of the context's modulus chain (fewer RNS primes); every other chunk at its first level.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from kiln.errors import InvalidInput

MAGIC = b"KILNCKKS1"
MEDIA_TYPE = "application/vnd.kiln.ckks"
MAX_HEADER_BYTES = 1 << 20


def encode(header: dict[str, Any], blobs: list[bytes]) -> bytes:
    meta = json.dumps({**header, "blob_sizes": [len(b) for b in blobs]}).encode()
    return b"".join([MAGIC, struct.pack(">I", len(meta)), meta, *blobs])


def decode(body: bytes, max_blobs: int) -> tuple[dict[str, Any], list[bytes]]:
    """The header and the blobs; InvalidInput naming what is wrong with a frame that is not one."""
    if not body.startswith(MAGIC):
        raise InvalidInput(
            "this is not an encrypted scoring request (kiln.encrypted.EncryptedClient or "
            "kiln online-endpoint invoke --encrypted makes them)"
        )
    start = len(MAGIC) + 4
    if len(body) < start:
        raise InvalidInput("the encrypted request ends inside its frame header")
    (length,) = struct.unpack(">I", body[len(MAGIC) : start])
    if length > MAX_HEADER_BYTES or start + length > len(body):
        raise InvalidInput(
            f"the encrypted request's header length {length} is past its end or above {MAX_HEADER_BYTES}"
        )
    try:
        header = json.loads(body[start : start + length])
    except ValueError as exc:
        raise InvalidInput(f"the encrypted request's header is not JSON: {exc}") from exc
    sizes = header.get("blob_sizes") if isinstance(header, dict) else None
    if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes):
        raise InvalidInput("the encrypted request's header needs blob_sizes, a list of byte counts")
    if len(sizes) > max_blobs:
        raise InvalidInput(f"{len(sizes)} ciphertexts in one request; at most {max_blobs}")
    offset = start + length
    if offset + sum(sizes) != len(body):
        raise InvalidInput(f"the blobs' sizes add up to {sum(sizes)} bytes but {len(body) - offset} follow the header")
    blobs = []
    for size in sizes:
        blobs.append(body[offset : offset + size])
        offset += size
    return header, blobs
