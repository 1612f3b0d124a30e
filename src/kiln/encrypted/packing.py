"""Many rows per ciphertext: how a batch of rows is laid out in CKKS slots, and read back.

A chunk of ``rows`` (at most ``slots``) is padded to ``row_block`` (a power of two) and each ciphertext
holds ``per_ciphertext = slots // row_block`` features, one block of ``row_block`` slots each: feature
``c·g + b`` of every row in block ``b`` of ciphertext ``c``. The server multiplies each ciphertext by a
plaintext that repeats one output's weight over each block and adds the products up, so one plaintext
multiplication serves ``slots`` (row, feature) pairs at once: a linear model of F features costs
``ceil(F·row_block / slots)`` multiplications per output for the whole chunk, whatever its rows. The
answer's blocks add up to the output (the client adds them after decryption; the server masks each
block with random shares that cancel in that sum, so no block shows a partial product). A network
(``per_ciphertext`` 1) keeps one feature per ciphertext and every row in its slots: each layer is then
scalar multiplications and additions, and the squares act on whole ciphertexts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kiln.encrypted.model_form import next_power_of_two
from kiln.errors import InvalidInput


@dataclass(frozen=True)
class Layout:
    rows: int
    row_block: int
    per_ciphertext: int
    n_features: int

    @property
    def ciphertexts(self) -> int:
        return -(-self.n_features // self.per_ciphertext)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "row_block": self.row_block, "per_ciphertext": self.per_ciphertext}

    @property
    def feature_major(self) -> bool:
        """One feature per ciphertext (every row of the chunk in its slots)."""
        return self.per_ciphertext == 1

    @classmethod
    def for_rows(cls, rows: int, n_features: int, slots: int, linear: bool) -> Layout:
        block = next_power_of_two(rows) if linear else slots
        return cls(rows, block, slots // block, n_features)

    @classmethod
    def checked(cls, data: Any, n_features: int, slots: int, linear: bool) -> Layout:
        """A chunk's layout as a request states it; InvalidInput when it does not fit the model or the slots."""
        try:
            rows, block, per = int(data["rows"]), int(data["row_block"]), int(data["per_ciphertext"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"a chunk needs rows, row_block and per_ciphertext as integers ({exc})") from exc
        if not (1 <= rows <= block <= slots) or block * per != slots or block & (block - 1):
            raise InvalidInput(
                f"chunk layout rows={rows}, row_block={block}, per_ciphertext={per} does not fit {slots} slots "
                "(row_block a power of two ≥ rows; row_block × per_ciphertext = slots)"
            )
        if not linear and per != 1:
            raise InvalidInput("this model has several layers: each ciphertext holds one feature (per_ciphertext 1)")
        return cls(rows, block, per, n_features)


def chunks(n_rows: int, n_features: int, slots: int, linear: bool) -> list[tuple[int, Layout]]:
    """(first row, layout) for each chunk of at most ``slots`` rows."""
    return [
        (start, Layout.for_rows(min(slots, n_rows - start), n_features, slots, linear))
        for start in range(0, n_rows, slots)
    ]


def pack(X: np.ndarray, layout: Layout) -> list[np.ndarray]:
    """The slot vectors of one chunk's rows ``X`` (rows × features), one per ciphertext."""
    g, block = layout.per_ciphertext, layout.row_block
    padded = np.zeros((layout.ciphertexts * g, block))
    padded[: layout.n_features, : layout.rows] = np.asarray(X, dtype=np.float64).T
    return [padded[c * g : (c + 1) * g].reshape(-1) for c in range(layout.ciphertexts)]


def block_weights(weights: np.ndarray, layout: Layout) -> list[np.ndarray]:
    """For one output's weights (features,): the plaintext vector each ciphertext is multiplied by."""
    g, block = layout.per_ciphertext, layout.row_block
    padded = np.zeros(layout.ciphertexts * g)
    padded[: weights.size] = weights
    return [np.repeat(padded[c * g : (c + 1) * g], block) for c in range(layout.ciphertexts)]


def masked_bias(bias: float, layout: Layout, rng: np.random.Generator, magnitude: float) -> np.ndarray:
    """``bias`` in every row of the blocks' sum, plus random shares that add up to zero over the blocks."""
    g, block = layout.per_ciphertext, layout.row_block
    shares = rng.uniform(-magnitude, magnitude, size=(g, block)) if g > 1 else np.zeros((1, block))
    shares[-1] -= shares.sum(axis=0)
    shares[0] += bias
    return shares.reshape(-1)


def unpack(decrypted: np.ndarray, layout: Layout) -> np.ndarray:
    """One output's values for the chunk's rows, from its decrypted slots: the blocks added up."""
    slots = np.asarray(decrypted, dtype=np.float64)[: layout.per_ciphertext * layout.row_block]
    return np.asarray(slots.reshape(layout.per_ciphertext, layout.row_block).sum(axis=0)[: layout.rows])
