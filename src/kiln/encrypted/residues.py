"""A linear layer on CKKS ciphertexts computed on their RNS residues with numpy: the server's fast path for
a linear model whose rows come one feature per ciphertext (``packing``: ``per_ciphertext`` 1).

Multiplying an NTT-form ciphertext by a constant ``c`` (encoded as the integer ``round(c · 2^s)``) multiplies
each residue by that integer modulo its prime, and adding a constant adds it to every residue of the first
polynomial. So the outputs are ``W̃ · X mod q`` for each prime ``q``, with ``W̃`` the weights as integers and ``X``
the residues of all feature ciphertexts: one matrix product, made exact in float64 by cutting the residues
into limbs small enough that no sum passes 2^53. The answer's scale is the input's times ``2^s``; ``s`` is
chosen so that the weights keep 20 bits and the scores keep at least 2^30 of room below the modulus.
This is the computation TenSEAL's ``mul``/``add`` would do, without encoding a plaintext per product.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kiln.encrypted.seal_format import Ciphertext

WEIGHT_BITS = 20
DIGIT_BITS = 10  # the integer weights as signed base-1024 digits, so that products with 32-bit limbs stay small
DIGITS = WEIGHT_BITS // DIGIT_BITS
SCORE_ROOM_BITS = 30  # |score| < 2^30 decrypts exactly
FEATURE_GROUP = 1 << (52 - DIGIT_BITS - 32)  # features summed exactly in float64 before a reduction mod q
COLUMNS = 4096  # residues per block: the float copy of one block stays small


MIN_WEIGHT_BITS = 12  # fewer bits of the largest weight than this: the level is too low for the model


class TooLittleRoom(ValueError):
    """The ciphertexts' modulus leaves too little room for the weights' precision and the scores."""


def weight_exponent(weights: np.ndarray, input_scale_bits: int, modulus_bits: int) -> int:
    """``s``: weights as integers ``round(w · 2^s)`` of at most ``WEIGHT_BITS`` bits, within the modulus's room
    (the scores keep ``SCORE_ROOM_BITS``); TooLittleRoom when the largest weight would keep too few bits."""
    largest = float(np.abs(weights).max()) if weights.size else 0.0
    top = math.frexp(largest)[1] if largest > 0 else 0
    s = min(WEIGHT_BITS - top, modulus_bits - 1 - input_scale_bits - SCORE_ROOM_BITS)
    if s + top < MIN_WEIGHT_BITS:
        raise TooLittleRoom(
            f"the ciphertexts' modulus of {modulus_bits} bits leaves the weights {s + top} bits at scale "
            f"2^{input_scale_bits}; at least {MIN_WEIGHT_BITS} are needed"
        )
    return s


def level_for(levels_bits: list[int], input_scale_bits: int) -> int:
    """The index of the smallest level (by total modulus bits, from the first level down) that keeps the
    weights their full ``WEIGHT_BITS`` for weights below 2^8 in magnitude: the level a client sends at."""
    need = input_scale_bits + WEIGHT_BITS + 8 + SCORE_ROOM_BITS + 1
    fitting = [index for index, bits in enumerate(levels_bits) if bits >= need]
    return fitting[-1] if fitting else 0


def linear(
    weights: np.ndarray, bias: np.ndarray, inputs: list[Ciphertext], primes: tuple[int, ...], input_scale_bits: int
) -> list[Ciphertext]:
    """One ciphertext per output ``j``: ``Σ_f weights[j, f] · inputs[f] + bias[j]``, slot by slot (primes of at
    most 60 bits, as SEAL's)."""
    polys, moduli, degree = inputs[0].residues.shape
    primes = primes[:moduli]
    if max(q.bit_length() for q in primes) > 60:
        raise ValueError("primes of at most 60 bits (SEAL's bound) keep the sums below 2^64")
    s = weight_exponent(weights, input_scale_bits, sum(q.bit_length() for q in primes))
    integers = np.rint(np.ldexp(np.asarray(weights, dtype=np.float64), s)).astype(np.int64)
    digits = _digits(integers)
    residues = [c.residues for c in inputs]
    out = np.empty((weights.shape[0], polys, moduli, degree), dtype=np.uint64)
    for i, q in enumerate(primes):
        for p in range(polys):
            out[:, p, i, :] = _combination(digits, [r[p, i] for r in residues], q)
        for j, b in enumerate(bias):
            out[j, 0, i, :] = _add_mod(out[j, 0, i, :], round(math.ldexp(float(b), s + input_scale_bits)) % q, q)
    scale = math.ldexp(1.0, s + input_scale_bits)
    first = inputs[0]
    return [dataclasses.replace(first, scale=scale, residues=out[j]) for j in range(out.shape[0])]


def _digits(integers: np.ndarray) -> np.ndarray:
    """(DIGITS × outputs) × features floats: ``integers = Σ_m digit_m · 2^(10m)``, the top digit signed."""
    digits = [(integers >> (DIGIT_BITS * m)) & ((1 << DIGIT_BITS) - 1) for m in range(DIGITS - 1)]
    digits.append(integers >> (DIGIT_BITS * (DIGITS - 1)))
    return np.concatenate(digits).astype(np.float64)


def _combination(digits: np.ndarray, rows: list[np.ndarray], q: int) -> np.ndarray:
    """``integers @ X mod q`` exactly, for X's rows (one u64 polynomial per feature, residues below q < 2^62):
    each residue read as two u32 limbs (a view of its bytes), each weight as base-1024 digits, one float64
    matrix product per block whose sums stay below 2^52; per limb the two digits' sums are joined in int64
    (below 2^63) and reduced modulo q once, and the high limb's shifted by 32 bits modulo q."""
    outputs = digits.shape[0] // DIGITS
    columns = rows[0].shape[0]
    result = np.empty((outputs, columns), dtype=np.uint64)
    modulus = np.int64(q)
    for start in range(0, columns, COLUMNS):
        width = min(COLUMNS, columns - start)
        total = np.zeros((outputs, width), dtype=np.uint64)
        for group in range(0, len(rows), FEATURE_GROUP):
            limbs = np.stack(
                [r[start : start + width].view("<u4") for r in rows[group : group + FEATURE_GROUP]], dtype=np.float64
            )
            products = digits[:, group : group + FEATURE_GROUP] @ limbs  # (digits × outputs) × (width × 2 limbs)
            pieces = products.astype(np.int64).reshape(DIGITS, outputs, width, 2)
            # Σ_m piece_m · 2^(10m): |piece_0| < 2^52 and |piece_1 · 2^10| < 2^62, so the sum stays in int64
            joined = pieces[0] + (pieces[1] << np.int64(DIGIT_BITS))
            reduced = np.mod(joined, modulus).astype(np.uint64)  # (outputs × width × 2 limbs), below q
            terms = _add_mod(reduced[:, :, 0], _shift_mod(np.ascontiguousarray(reduced[:, :, 1]), 32, q), q)
            total = _add_mod(total, terms, q)
        result[:, start : start + width] = total
    return result


def _shift_mod(values: np.ndarray, bits: int, q: int) -> np.ndarray:
    """``values · 2^bits mod q`` for values below q < 2^62. SEAL's primes sit just below a power of two,
    ``q = 2^B − δ``: with ``v · 2^bits = H · 2^B + L``, that is ``H · δ + L`` (one reduction), when it fits
    64 bits; else a few bits at a time."""
    if bits == 0:
        return values
    width = q.bit_length()
    delta = (1 << width) - q
    if bits <= width and bits + delta.bit_length() < 63:
        high = values >> np.uint64(width - bits)
        low = (values << np.uint64(bits)) & np.uint64((1 << width) - 1)
        return (high * np.uint64(delta) + low) % np.uint64(q)
    step = 63 - width
    modulus = np.uint64(q)
    while bits > 0:
        now = min(step, bits)
        values = (values << np.uint64(now)) % modulus
        bits -= now
    return values


def _add_mod(values: np.ndarray, other: np.ndarray | int, q: int) -> np.ndarray:
    """``values + other mod q`` for both below q < 2^63."""
    total = values + (np.uint64(other) if isinstance(other, int) else other)
    return np.where(total >= np.uint64(q), total - np.uint64(q), total)
