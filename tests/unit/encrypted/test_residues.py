"""The server's fast path for large batches on linear models: the integer matrix product on the ciphertexts'
residues is exact (checked against Python's integers), the SEAL format is read and written as TenSEAL does,
the client sends feature-major ciphertexts at the lower level, and a hostile ciphertext on this path is a
clear 4xx while the scorer keeps serving."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from kiln.encrypted import residues, seal_format, wire
from kiln.encrypted.packing import Layout
from kiln.encrypted.seal_format import Ciphertext, SealFormatError
from kiln.errors import KilnError

ts = pytest.importorskip("tenseal")

PRIMES = (1152921504606748673, 1099510890497)  # SEAL's 60- and 40-bit primes at N=8192


def test_the_product_on_residues_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(residues, "COLUMNS", 8)  # several column blocks
    monkeypatch.setattr(residues, "FEATURE_GROUP", 16)  # several feature groups, each reduced on its own
    rng = np.random.default_rng(5)
    features, outputs, degree = 40, 3, 20
    weights, bias = rng.normal(0, 0.3, size=(outputs, features)), rng.normal(size=outputs)
    weights[0, 0] = -1.5  # the top digit negative
    stack = np.stack(
        [np.stack([rng.integers(0, q, size=degree, dtype=np.uint64) for q in PRIMES]) for _ in range(2 * features)]
    ).reshape(features, 2, len(PRIMES), degree)
    inputs = [Ciphertext((1, 2, 3, 4), 2.0**40, stack[f], b"\x02") for f in range(features)]
    out = residues.linear(weights, bias, inputs, PRIMES, 40)
    s = residues.weight_exponent(weights, 40, 100)
    integers = [[round(math.ldexp(w, s)) for w in row] for row in weights.tolist()]
    for j in range(outputs):
        assert out[j].scale == 2.0 ** (40 + s) and out[j].parms_id == (1, 2, 3, 4)
        for p in range(2):
            for i, q in enumerate(PRIMES):
                for n in range(degree):
                    expected = sum(integers[j][f] * int(stack[f, p, i, n]) for f in range(features))
                    if p == 0:
                        expected += round(math.ldexp(float(bias[j]), s + 40))
                    assert int(out[j].residues[p, i, n]) == expected % q


def test_the_weights_keep_their_bits_or_the_level_is_refused() -> None:
    weights = np.array([[0.1, -0.05]])
    s = residues.weight_exponent(weights, 40, 100)
    assert abs(round(0.1 * 2**s)) < 2**residues.WEIGHT_BITS <= abs(round(0.2 * 2**s))
    with pytest.raises(residues.TooLittleRoom, match="at least"):
        residues.weight_exponent(weights, 40, 60)  # one 60-bit prime: no room at scale 2^40
    assert residues.level_for([140, 100, 60], 40) == 1  # the client sends at the 100-bit level


@pytest.fixture(scope="module")
def context() -> Any:
    context = ts.context(
        ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60], encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC
    )
    context.global_scale = 2.0**40
    return context


def test_seal_bytes_read_and_written_as_tenseal_does(context: Any) -> None:
    values = [1.0, -2.5, 3.25]
    blob = ts.ckks_vector(context, values).serialize()
    levels = seal_format.levels(context)
    assert [len(level.primes) for level in levels] == [3, 2, 1] and levels[1].primes == PRIMES
    ciphertext = seal_format.read(blob, 8192, 3)
    assert ciphertext.parms_id == levels[0].parms_id and ciphertext.residues.shape == (2, 3, 8192)
    for written in (ciphertext, seal_format.dropped_to(ciphertext, 2, levels[1].parms_id)):
        again = ts.ckks_vector_from(context, seal_format.write(written))
        np.testing.assert_allclose(again.decrypt()[:3], values, atol=1e-6)
    for bad in (blob[:-4], blob[:100], b"\x0a\x01\x02" + b"\x22\x00" + blob[3:], b"garbage" * 10):
        with pytest.raises(SealFormatError):
            seal_format.read(bad, 8192, 3)
    with pytest.raises(SealFormatError):
        seal_format.read(blob, 4096, 3)  # another degree


@pytest.fixture(scope="module")
def model() -> Any:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 30))
    return LogisticRegression().fit(X, (X[:, 0] - X[:, 1] > 0).astype(int))


def _status(call: Any) -> tuple[int, str]:
    with pytest.raises(KilnError) as caught:
        call()
    return caught.value.http_status, caught.value.message


@pytest.mark.parametrize(
    ("rows", "layout", "moduli"),
    [
        (1000, {"rows": 1000, "row_block": 1024, "per_ciphertext": 4}, 3),  # blocks: 8 ciphertexts, 4 blocks
        (3000, {"rows": 3000, "row_block": 4096, "per_ciphertext": 1}, 2),  # feature-major, at the lower level
    ],
)
def test_large_batches_are_computed_on_the_residues(
    model: Any, wired: Any, monkeypatch: Any, rows: int, layout: dict[str, int], moduli: int
) -> None:
    from kiln.serving.replica import encrypted_path

    def not_tenseal(*args: Any) -> Any:
        raise AssertionError("a large linear chunk went through TenSEAL's products")

    monkeypatch.setattr(encrypted_path, "evaluate", not_tenseal)
    client, channel = wired(model)
    X = np.random.default_rng(4).normal(size=(rows, 30))
    scores = client.decision_function(X)
    assert np.abs(scores[:, 0] - model.decision_function(X)).max() < 1e-4
    assert (client.predict(X) == model.predict(X)).all()
    header, blobs = wire.decode(channel.bodies[-2], max_blobs=1 << 20)
    assert header["chunks"] == [layout]
    assert {seal_format.read(b, 8192, 3).residues.shape[1] for b in blobs} == {moduli}
    # sent without SEAL's zstd: the server reads the residues as they come, with nothing to decompress
    assert {seal_format.HEADER.unpack_from(seal_format._fields(memoryview(b))[1])[4] for b in blobs} == {
        seal_format.NONE
    }


def test_the_blocks_answer_shows_no_partial_product(model: Any, wired: Any) -> None:
    client, channel = wired(model)
    X = np.random.default_rng(9).normal(size=(1000, 30))
    client.predict(X)
    header, answers = wire.decode(channel.bodies[-1], max_blobs=1 << 20)
    layout = Layout.checked(header_of(channel)["chunks"][0], 30, 4096, linear=True)
    assert layout.per_ciphertext == 4
    slots = np.asarray(ts.ckks_vector_from(client._context, answers[0]).decrypt()).reshape(4, -1)[:, :1000]
    # each block masked (shares uniform in ±2^20: ~0.1 % of slots fall within ±1,000 by chance, where a partial
    # product of these rows is a few units), only their sum is the score
    assert np.mean(np.abs(slots) > 1000) > 0.99, np.sort(np.abs(slots).ravel())[:20]
    np.testing.assert_allclose(slots.sum(axis=0), model.decision_function(X), atol=1e-4)


def header_of(channel: Any) -> dict[str, Any]:
    return wire.decode(channel.bodies[-2], max_blobs=1 << 20)[0]


def test_hostile_ciphertexts_on_the_fast_path_are_4xx(model: Any, wired: Any, context: Any) -> None:
    client, channel = wired(model)
    rows = np.random.default_rng(6).normal(size=(2000, 30))  # blocks of 2048 rows, 2 per ciphertext
    client.predict(rows)
    header, blobs = wire.decode(channel.bodies[-2], max_blobs=1 << 20)
    assert header["chunks"][0]["per_ciphertext"] == 2
    good = [seal_format.read(b, 8192, 3) for b in blobs]
    levels = seal_format.levels(context)

    def body(changed: list[bytes]) -> bytes:
        return wire.encode(header, changed)

    at_prime = good[3].residues.copy()
    at_prime[1, 0, 7] = PRIMES[0]
    cases = {
        "at or above its prime": [*blobs[:3], seal_format.write(dataclasses.replace(good[3], residues=at_prime))],
        "scale": [*blobs[:5], seal_format.write(dataclasses.replace(good[5], scale=2.0**30))],
        "not at the level": [
            *blobs[:2],
            seal_format.write(dataclasses.replace(good[2], parms_id=(9, 9, 9, 9))),
        ],
        "not a CKKS vector": [*blobs[:4], b"garbage" * 10],
        "first level": [seal_format.write(seal_format.dropped_to(c, 2, levels[1].parms_id)) for c in good],
    }
    for expected, changed in cases.items():
        changed = changed + blobs[len(changed) :]
        status, message = _status(lambda changed=changed: channel.scorer.score(body(changed)))
        assert 400 <= status < 500 and expected in message, message
    assert (client.predict(rows) == model.predict(rows)).all()  # still serving
