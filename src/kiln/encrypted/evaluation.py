"""The server's side: a model's form evaluated on ciphertexts laid out by ``packing``, with TenSEAL.

The server holds only a public context (no secret key: ``contexts.load_public`` refuses one), so it
cannot read what it computes. Linear models in blocks (small batches): one plaintext multiplication per
(ciphertext, output), the bias and the blocks' zero-sum masks added once per output (the chain keeps one
prime beyond the depth so that the masks' magnitude fits: ``encrypted_path.parameters_for``). Linear
models feature-major (large batches): ``linear_on_residues``, one integer matrix product on the residues.
Networks: per layer scalar multiplications and sums, a square (relinearized, rescaled) between layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kiln.encrypted import residues, seal_format
from kiln.encrypted.model_form import HomomorphicForm
from kiln.encrypted.packing import Layout, block_weights, masked_bias
from kiln.encrypted.parameters import CkksParameters
from kiln.errors import InvalidInput

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


def linear_on_residues(
    form: HomomorphicForm, blobs: list[bytes], levels: list[seal_format.Level], parameters: CkksParameters, first: int
) -> list[bytes]:
    """A feature-major chunk of a linear model: its serialized answers, one per output. The ciphertexts must
    all sit at one level of the registered context's chain with room for the product (``residues``), at the
    deployment's scale, with every residue below its prime (what SEAL checks when it loads one).
    SealFormatError when a blob is not in the layout ``seal_format`` reads (the caller uses TenSEAL then).
    ``first``: the first blob's index in the request, for the messages."""
    inputs = [seal_format.read(blob, parameters.poly_modulus_degree, len(levels[0].primes)) for blob in blobs]
    level = next((lv for lv in levels if lv.parms_id == inputs[0].parms_id), None)
    for index, ciphertext in enumerate(inputs, first):
        if level is None or ciphertext.parms_id != level.parms_id or ciphertext.residues.shape[1] != len(level.primes):
            raise InvalidInput(
                f"ciphertext {index} is not at the level of the registered context's modulus chain that the "
                "chunk's first ciphertext is at"
            )
        if ciphertext.scale != 2.0**parameters.scale_bits:
            raise InvalidInput(
                f"ciphertext {index} has scale {ciphertext.scale!r}; this deployment's rows come at "
                f"2^{parameters.scale_bits}"
            )
        for i, q in enumerate(level.primes):
            if int(ciphertext.residues[:, i, :].max()) >= q:
                raise InvalidInput(f"ciphertext {index} holds a residue at or above its prime: it is not a ciphertext")
    assert level is not None
    weights, bias = form.layers[0]
    try:
        outputs = residues.linear(weights, bias, inputs, level.primes, parameters.scale_bits)
    except residues.TooLittleRoom as exc:
        raise InvalidInput(f"{exc}: send them at a higher level (EncryptedClient chooses one)") from exc
    return [seal_format.write(o) for o in outputs]
