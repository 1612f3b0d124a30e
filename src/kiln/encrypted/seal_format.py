"""CKKS ciphertexts as numbers: TenSEAL's serialized ``CKKSVector`` read into, and written from, numpy arrays
of RNS residues, so the server can compute a linear layer as one integer matrix product instead of one
TenSEAL call (which encodes a plaintext each time) per product.

A serialized ``CKKSVector`` is a protobuf (field 1: the vector's size, field 2: a SEAL ``Ciphertext``, field 3:
its scale). A SEAL ``Ciphertext`` (SEAL 4.x): a 16-byte header (magic ``0xA15E``, header size, version,
compression: none, zlib or zstd, the total size), then ``parms_id`` (4 × u64), the NTT flag (u8), the
polynomial count, degree and RNS modulus count (u64 each), the scale (f64), the correction factor (u64),
and the residues: an inner header, a u64 count and the u64s themselves, polynomial by polynomial, prime by
prime. Only what matches this exactly is read (``SealFormatError`` otherwise, and the caller falls back to
TenSEAL); zstd is the one compiled into TenSEAL's own library.
"""

from __future__ import annotations

import ctypes
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

MAGIC = 0xA15E
HEADER = struct.Struct("<HBBBBHQ")  # magic, header size, version major, minor, compression, reserved, size
METADATA = struct.Struct("<4QBQQQdQ")  # parms_id, ntt, polynomials, degree, moduli, scale, correction factor
NONE, ZLIB, ZSTD = 0, 1, 2


class SealFormatError(ValueError):
    """The bytes are not a TenSEAL CKKS vector in the layout this module reads."""


@dataclass(frozen=True)
class Ciphertext:
    """One CKKS ciphertext: ``residues`` (polynomials × moduli × degree, u64, NTT form) and what names its level."""

    parms_id: tuple[int, int, int, int]
    scale: float
    residues: np.ndarray
    size: bytes  # the protobuf's field 1 as sent (the vector's length), carried into the answer
    version: tuple[int, int] = (4, 1)  # SEAL's, as read; written back (SEAL refuses another minor version)
    vector_scale: float = 0.0  # the protobuf's field 3: the scale TenSEAL encodes a product's plaintext at


@cache
def _zstd() -> Any:
    """TenSEAL's library, which exports the zstd it was built with; None when it does not."""
    try:
        from tenseal import _ts_cpp

        library = ctypes.CDLL(_ts_cpp.__file__)
        for name in ("ZSTD_decompress", "ZSTD_compress", "ZSTD_getFrameContentSize", "ZSTD_isError"):
            getattr(library, name)
    except (ImportError, OSError, AttributeError):
        return None
    library.ZSTD_decompress.restype = ctypes.c_size_t
    library.ZSTD_compress.restype = ctypes.c_size_t
    library.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
    library.ZSTD_isError.restype = ctypes.c_uint
    return library


def available() -> bool:
    return _zstd() is not None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise SealFormatError("a protobuf varint runs past the end")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fields(blob: memoryview) -> tuple[memoryview, memoryview, float]:
    """(field 1's bytes, field 2's bytes, field 3's number) of a serialized CKKSVector."""
    at, found, scale = 0, {}, 0.0
    while at < len(blob):
        tag, at = _varint(blob, at)
        number, kind = tag >> 3, tag & 7
        if kind == 2 and number in (1, 2):
            length, at = _varint(blob, at)
            if at + length > len(blob):
                raise SealFormatError("a protobuf field runs past the end")
            found[number], at = blob[at : at + length], at + length
        elif kind == 1 and number == 3 and at + 8 <= len(blob):
            (scale,) = struct.unpack_from("<d", blob, at)
            at += 8
        else:
            raise SealFormatError(f"unexpected protobuf field {number} (wire type {kind})")
    if 1 not in found or 2 not in found or at != len(blob):
        raise SealFormatError("not a serialized CKKSVector")
    return found[1], found[2], scale


def _decompress(mode: int, body: memoryview, limit: int) -> memoryview:
    if mode == NONE:
        return body
    body = bytes(body)  # type: ignore[assignment]
    if mode == ZLIB:
        try:
            data = zlib.decompressobj().decompress(body, limit + 1)
        except zlib.error as exc:
            raise SealFormatError(f"zlib: {exc}") from exc
    elif mode == ZSTD:
        library = _zstd()
        if library is None:
            raise SealFormatError("zstd is not available")
        size = library.ZSTD_getFrameContentSize(body, len(body))
        if size > limit:
            raise SealFormatError(f"the ciphertext decompresses to {size} bytes, above {limit}")
        out = ctypes.create_string_buffer(size)
        done = library.ZSTD_decompress(out, size, body, len(body))
        if library.ZSTD_isError(done) or done != size:
            raise SealFormatError("zstd could not decompress the ciphertext")
        data = out.raw
    else:
        raise SealFormatError(f"unknown compression mode {mode}")
    if len(data) > limit:
        raise SealFormatError(f"the ciphertext decompresses past {limit} bytes")
    return memoryview(data)


def read(blob: bytes, degree: int, max_moduli: int) -> Ciphertext:
    """One serialized CKKSVector; SealFormatError for anything not in the layout above or over the bounds.
    Uncompressed residues are a view of ``blob`` (no copy)."""
    size, seal, vector_scale = _fields(memoryview(blob))
    if len(seal) < HEADER.size:
        raise SealFormatError("the SEAL ciphertext is shorter than its header")
    magic, header_size, major, minor, mode, _, total = HEADER.unpack_from(seal)
    if magic != MAGIC or header_size != HEADER.size or major != 4 or total != len(seal):
        raise SealFormatError("not a SEAL 4 ciphertext")
    limit = METADATA.size + HEADER.size + 8 + 2 * max_moduli * degree * 8
    body = _decompress(mode, seal[HEADER.size :], limit)
    if len(body) < METADATA.size + HEADER.size + 8:
        raise SealFormatError("the ciphertext's body is too short")
    *parms, ntt, polys, n, moduli, scale, correction = METADATA.unpack_from(body)
    if not ntt or polys != 2 or n != degree or not 1 <= moduli <= max_moduli or correction != 1:
        raise SealFormatError("the ciphertext is not a fresh two-polynomial CKKS ciphertext in NTT form")
    inner = METADATA.size
    magic, header_size, major, _minor, mode, _, inner_total = HEADER.unpack_from(body, inner)
    (count,) = struct.unpack_from("<Q", body, inner + HEADER.size)
    start = inner + HEADER.size + 8
    if magic != MAGIC or mode != NONE or count != polys * moduli * n or len(body) != start + count * 8:
        raise SealFormatError("the ciphertext's residues are not laid out as expected")
    residues = np.frombuffer(body, dtype="<u8", count=count, offset=start).reshape(polys, moduli, n)
    return Ciphertext(tuple(parms), scale, residues, bytes(size), (major, minor), vector_scale)  # type: ignore[arg-type]


def write(ciphertext: Ciphertext) -> bytes:
    """A serialized CKKSVector TenSEAL reads (``ts.ckks_vector_from``), uncompressed."""
    polys, moduli, n = ciphertext.residues.shape
    data = np.ascontiguousarray(ciphertext.residues, dtype="<u8").tobytes()
    major, minor = ciphertext.version
    inner = HEADER.pack(MAGIC, HEADER.size, major, minor, NONE, 0, HEADER.size + 8 + len(data))
    body = b"".join(
        [
            METADATA.pack(*ciphertext.parms_id, 1, polys, n, moduli, ciphertext.scale, 1),
            inner,
            struct.pack("<Q", polys * moduli * n),
            data,
        ]
    )
    seal = HEADER.pack(MAGIC, HEADER.size, major, minor, NONE, 0, HEADER.size + len(body)) + body
    return b"".join(
        [
            b"\x0a" + _encode_varint(len(ciphertext.size)) + ciphertext.size,
            b"\x12" + _encode_varint(len(seal)) + seal,
            b"\x19" + struct.pack("<d", ciphertext.vector_scale or ciphertext.scale),
        ]
    )


def with_vector_scale(blob: bytes, scale: float) -> bytes:
    """A serialized CKKSVector with its protobuf scale (what TenSEAL encodes plaintext operands at) replaced."""
    size, seal, _ = _fields(memoryview(blob))
    return b"".join(
        [
            b"\x0a" + _encode_varint(len(size)) + bytes(size),
            b"\x12" + _encode_varint(len(seal)) + bytes(seal),
            b"\x19" + struct.pack("<d", scale),
        ]
    )


def dropped_to(ciphertext: Ciphertext, moduli: int, parms_id: tuple[int, int, int, int]) -> Ciphertext:
    """The same ciphertext modulo its first ``moduli`` primes (SEAL's ``mod_switch_to`` for CKKS: the RNS
    residues of the other primes dropped; the scale unchanged). ``parms_id``: that level's."""
    return replace(ciphertext, parms_id=parms_id, residues=ciphertext.residues[:, :moduli, :])


@dataclass(frozen=True)
class Level:
    parms_id: tuple[int, int, int, int]
    primes: tuple[int, ...]


def levels(context: Any) -> list[Level]:
    """The context's data levels, from the first (all data primes) down to the last (one prime)."""
    data = context.seal_context().data.first_context_data()
    out = []
    while data is not None:
        out.append(Level(tuple(data.parms_id()), _primes(data.parms())))  # type: ignore[arg-type]
        data = data.next_context_data()
    return out


def _primes(parms: Any) -> tuple[int, ...]:
    """The level's primes, read from SEAL's serialized parameters (TenSEAL does not bind ``seal::Modulus``)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "parms")
        parms.save(path)
        with open(path, "rb") as handle:
            seal = handle.read()
    _, _, _, _, mode, _, total = HEADER.unpack_from(seal)
    body = _decompress(mode, memoryview(seal)[HEADER.size : total], 1 << 16)
    (count,) = struct.unpack_from("<Q", body, 1 + 8)
    at, primes = 1 + 16, []
    for _ in range(count):
        at += HEADER.size
        (value,) = struct.unpack_from("<Q", body, at)
        primes.append(value)
        at += 8
    return tuple(primes)
