"""Bad input to the encrypted routes' logic: every one a clear 4xx (a KilnError with its status), and the
scorer keeps serving after it; the context store's bounds and expiry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from kiln.encrypted import wire
from kiln.encrypted.contexts import ContextStore
from kiln.errors import InvalidInput, KilnError, NotFound, PayloadTooLarge

ts = pytest.importorskip("tenseal")


@pytest.fixture(scope="module")
def model() -> Any:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 20))
    return LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))


def _status(call: Any) -> tuple[int, str]:
    with pytest.raises(KilnError) as caught:
        call()
    return caught.value.http_status, caught.value.message


def test_hostile_contexts_and_ciphertexts_are_4xx_and_the_scorer_keeps_serving(model: Any, wired: Any) -> None:
    client, channel = wired(model)
    scorer = channel.scorer
    rows = np.random.default_rng(0).normal(size=(5, 20))
    client.predict(rows)
    private = client._context.serialize(save_secret_key=True)
    status, message = _status(lambda: scorer.register(private))
    assert status == 400 and "secret key" in message
    status, message = _status(lambda: scorer.register(b"\x00" * 1000))
    assert status == 400 and "TenSEAL context" in message
    other = ts.context(
        ts.SCHEME_TYPE.CKKS, 16384, coeff_mod_bit_sizes=[60, 40, 60], encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC
    )
    other.global_scale = 2.0**40
    status, message = _status(lambda: scorer.register(other.serialize(save_secret_key=False)))
    assert status == 400 and "needs 8192" in message
    context_id = client._context_id
    layout = {"rows": 1, "row_block": 1, "per_ciphertext": 4096}
    bad_bodies = {
        b'{"input_data": [[1, 2]]}': "not an encrypted scoring request",
        wire.encode({"context_id": context_id, "chunks": [layout]}, [b"garbage" * 10]): "ciphertext 0",
        wire.encode({"context_id": "nope", "chunks": [layout]}, [b"x"]): "unknown or expired",
        wire.encode({"context_id": context_id, "chunks": [layout]}, []): "need 1 ciphertexts",
        wire.encode({"context_id": context_id, "chunks": []}, []): "chunks",
        wire.MAGIC + b"\xff\xff\xff\xff": "header length",
        wire.MAGIC + b"\x00\x00\x00\x02{]": "not JSON",
    }
    foreign = ts.ckks_vector(other, [1.0, 2.0]).serialize()  # a ciphertext under other parameters
    bad_bodies[wire.encode({"context_id": context_id, "chunks": [layout]}, [foreign])] = "ciphertext 0"
    for body, expected in bad_bodies.items():
        status, message = _status(lambda body=body: scorer.score(body))
        assert 400 <= status < 500 and expected in message, (body[:40], message)
    assert (client.predict(rows) == model.predict(rows)).all()  # still serving


def test_too_many_ciphertexts_are_refused(model: Any, wired: Any) -> None:
    _, channel = wired(model, max_ciphertexts=2)
    body = wire.encode({"context_id": "x", "chunks": []}, [b"a", b"b", b"c"])
    status, message = _status(lambda: channel.scorer.score(body))
    assert status == 400 and "at most 2" in message


def test_an_expired_context_is_registered_again_by_the_client(model: Any, wired: Any) -> None:
    client, channel = wired(model)
    rows = np.random.default_rng(1).normal(size=(3, 20))
    client.predict(rows)
    channel.scorer.contexts._entries.clear()  # as after its time limit
    assert (client.predict(rows) == model.predict(rows)).all()
    assert channel.scorer.contexts.active() == 1


def test_the_store_bounds_count_bytes_and_time() -> None:
    now = [0.0]
    store = ContextStore(max_contexts=2, max_bytes=100, ttl_s=10, clock=lambda: now[0])
    store.add("a", "A", 40)
    store.add("b", "B", 40)
    store.add("c", "C", 40)  # the third: the oldest goes
    with pytest.raises(NotFound):
        store.get("a")
    assert store.get("b") == "B"
    store.add("d", "D", 90)  # bytes: both others go
    assert store.active() == 1
    with pytest.raises(InvalidInput, match="at most 100"):
        store.add("e", "E", 101)
    now[0] = 11.0
    with pytest.raises(NotFound, match="expired"):
        store.get("d")


def test_payload_too_large_is_a_413() -> None:
    assert PayloadTooLarge("x").http_status == 413
