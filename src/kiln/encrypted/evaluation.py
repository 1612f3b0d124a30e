"""The server's side: a model's form evaluated on ciphertexts laid out by ``packing``, with TenSEAL.

The server holds only a public context (no secret key: ``contexts.load_public`` refuses one), so it
cannot read what it computes. Linear models: one plaintext multiplication per (ciphertext, output), the
bias and the blocks' zero-sum masks added once per output (the chain keeps one prime beyond the depth so
that the masks' magnitude fits: ``encrypted_path.parameters_for``). Networks: per layer scalar multiplications and sums,
a square (relinearized, rescaled) between layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kiln.encrypted.model_form import HomomorphicForm
from kiln.encrypted.packing import Layout, block_weights, masked_bias

MASK_MAGNITUDE = float(2**20)  # shares uniform in ±2^20: far above any block's partial sum, far below the chain's room


def evaluate(form: HomomorphicForm, vectors: list[Any], layout: Layout, rng: np.random.Generator) -> list[Any]:
    """One ciphertext per output for one chunk."""
    if form.is_linear and layout.per_ciphertext > 1:
        return _linear(form, vectors, layout, rng)
    return _layers(form, vectors)


def _linear(form: HomomorphicForm, vectors: list[Any], layout: Layout, rng: np.random.Generator) -> list[Any]:
    weights, bias = form.layers[0]
    outputs = []
    for j in range(weights.shape[0]):
        plains = block_weights(weights[j], layout)
        acc = None
        for vector, plain in zip(vectors, plains, strict=True):
            if not plain.any():
                continue
            product = vector.mul(plain.tolist())
            acc = product if acc is None else acc.add_(product)
        if acc is None:
            acc = vectors[0].mul(0.0)
        outputs.append(acc.add_(masked_bias(float(bias[j]), layout, rng, MASK_MAGNITUDE).tolist()))
    return outputs


def _layers(form: HomomorphicForm, vectors: list[Any]) -> list[Any]:
    units = vectors
    for index, (weights, bias) in enumerate(form.layers):
        next_units = []
        for j in range(weights.shape[0]):
            acc = None
            for unit, w in zip(units, weights[j], strict=True):
                if w == 0.0:
                    continue
                product = unit.mul(float(w))
                acc = product if acc is None else acc.add_(product)
            if acc is None:
                acc = units[0].mul(0.0)
            acc = acc.add_(float(bias[j]))
            next_units.append(acc.square_() if index < len(form.layers) - 1 else acc)
        units = next_units
    return units
