"""Packing rows into CKKS slots, on plain numbers: what the server computes on ciphertexts, done on the
slot vectors, gives the model's scores (no TenSEAL needed)."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.encrypted.packing import Layout, block_weights, chunks, masked_bias, pack, unpack
from kiln.errors import InvalidInput

SLOTS = 4096


@pytest.mark.parametrize(("rows", "features"), [(1, 64), (3, 784), (1000, 64), (4096, 10), (5000, 7)])
def test_the_slot_computation_gives_the_linear_scores(rows: int, features: int) -> None:
    rng = np.random.default_rng(rows)
    X, W, b = rng.normal(size=(rows, features)), rng.normal(size=(3, features)), rng.normal(size=3)
    out = np.empty((rows, 3))
    for start, layout in chunks(rows, features, SLOTS, linear=True):
        vectors = pack(X[start : start + layout.rows], layout)
        assert all(v.size == SLOTS for v in vectors)
        for j in range(3):
            acc = sum(v * p for v, p in zip(vectors, block_weights(W[j], layout), strict=True))
            acc = acc + masked_bias(b[j], layout, rng, 2.0**20)
            out[start : start + layout.rows, j] = unpack(acc, layout)
    np.testing.assert_allclose(out, X @ W.T + b, atol=1e-6)


def test_many_rows_share_a_ciphertext() -> None:
    one = Layout.for_rows(1, 64, SLOTS, linear=True)
    thousand = Layout.for_rows(1000, 64, SLOTS, linear=True)
    assert (one.ciphertexts, thousand.ciphertexts) == (1, 16)  # 1,000 rows: 16 ciphertexts, not 1,000
    assert not thousand.feature_major and Layout.for_rows(3000, 64, SLOTS, linear=True).feature_major
    assert Layout.for_rows(10, 64, SLOTS, linear=False).ciphertexts == 64  # networks: one feature each


def test_the_masks_hide_each_block_and_cancel_in_the_sum() -> None:
    layout = Layout.for_rows(8, 64, SLOTS, linear=True)
    shares = masked_bias(0.5, layout, np.random.default_rng(1), 2.0**20).reshape(layout.per_ciphertext, -1)
    assert np.abs(shares).max() > 1000  # each block is far from the bias
    np.testing.assert_allclose(shares.sum(axis=0), 0.5, atol=1e-6)


@pytest.mark.parametrize(
    "layout",
    [
        {"rows": 5, "row_block": 4, "per_ciphertext": 1024},  # rows above the block
        {"rows": 4, "row_block": 6, "per_ciphertext": 682},  # not a power of two
        {"rows": 4, "row_block": 4, "per_ciphertext": 4},  # does not fill the slots
        {"rows": "x", "row_block": 4, "per_ciphertext": 1024},
        {"rows": 1},
    ],
)
def test_a_layout_that_does_not_fit_is_refused(layout: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        Layout.checked(layout, 64, SLOTS, linear=True)


def test_a_network_needs_one_feature_per_ciphertext() -> None:
    with pytest.raises(InvalidInput, match="one feature"):
        Layout.checked({"rows": 4, "row_block": 4, "per_ciphertext": 1024}, 64, SLOTS, linear=False)
