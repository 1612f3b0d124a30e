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
from kiln.extras import require_extra

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


def residues_pay(form: HomomorphicForm, layout: Layout) -> bool:
    """Whether ``linear_on_residues`` computes this chunk with fewer TenSEAL products than ``evaluate``:
    feature-major (none), or fewer blocks per ciphertext than ciphertexts (k · blocks products, not k · ciphertexts)."""
    return form.is_linear and (layout.feature_major or layout.per_ciphertext < layout.ciphertexts)


def linear_on_residues(
    form: HomomorphicForm,
    blobs: list[bytes],
    layout: Layout,
    registered: Any,
    parameters: CkksParameters,
    rng: np.random.Generator,
    first: int,
) -> list[bytes]:
    """A linear model's chunk, its serialized answers (one per output), computed mostly on the residues.

    With ``g`` features per ciphertext (feature ``c·g + b`` in block ``b`` of ciphertext ``c``), output ``j``
    is ``Σ_b (Σ_c w[j, c·g+b] · ct_c) ⊙ 1_b``: the inner sums, scalars times ciphertexts, are one integer
    matrix product on the residues (``residues.linear``); then each of the ``g`` sums is multiplied by the
    plaintext that is 1 on block ``b`` (TenSEAL: ``k · g`` encodings instead of ``k · ciphertexts``), and
    the bias with the blocks' zero-sum masks added as in ``_linear``. Feature-major (``g`` 1): the product
    and the bias alone, each answer holding the scores themselves.

    The ciphertexts must all sit at one level of the registered context's chain, at the deployment's scale,
    with every residue below its prime (what SEAL checks when it loads one). SealFormatError when a blob
    is not in the layout ``seal_format`` reads (the caller uses TenSEAL then). ``first``: the first blob's
    index in the request, for the messages."""
    levels: list[seal_format.Level] = registered.levels
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
    g, outputs = layout.per_ciphertext, weights.shape[0]
    if g > 1 and level is not levels[0]:
        raise InvalidInput(
            "a chunk with several features per ciphertext comes at the chain's first level (its products and "
            "masks need every prime); only feature-major chunks may come lower"
        )
    padded = np.zeros((outputs, layout.ciphertexts * g))
    padded[:, : weights.shape[1]] = weights
    by_block = padded.reshape(outputs, layout.ciphertexts, g).transpose(2, 0, 1).reshape(g * outputs, -1)
    try:
        sums = residues.linear(
            by_block, bias if g == 1 else np.zeros(g * outputs), inputs, level.primes, parameters.scale_bits
        )
    except residues.TooLittleRoom as exc:
        raise InvalidInput(f"{exc}: send them at a higher level (EncryptedClient chooses one)") from exc
    if g == 1:
        return [seal_format.write(s) for s in sums]
    ts = require_extra("encrypted", "tenseal", needed_by="encrypted scoring")
    answers = []
    for j in range(outputs):
        acc = None
        for b in range(g):
            if not by_block[b * outputs + j].any():
                continue
            indicator = np.zeros(g * layout.row_block)
            indicator[b * layout.row_block : (b + 1) * layout.row_block] = 1.0
            # TenSEAL encodes the indicator at the vector's scale (2^scale_bits); no rescale (``unscaled``)
            part = ts.ckks_vector_from(registered.unscaled, seal_format.write(sums[b * outputs + j]))
            part.mul_(indicator.tolist())
            acc = part if acc is None else acc.add_(part)
        if acc is None:
            acc = ts.ckks_vector_from(registered.unscaled, seal_format.write(sums[j])).mul(0.0)
        # the masks are encoded at the product's scale: TenSEAL takes a plaintext's scale from the vector's
        product_scale = sums[j].scale * 2.0**parameters.scale_bits
        acc = ts.ckks_vector_from(registered.unscaled, seal_format.with_vector_scale(acc.serialize(), product_scale))
        acc.add_(masked_bias(float(bias[j]), layout, rng, MASK_MAGNITUDE).tolist())
        answers.append(bytes(acc.serialize()))
    return answers
