"""Each supported model kind scored on ciphertexts through the client and the replica's scorer: the
decrypted scores equal the plaintext model's within CKKS error (docs/encrypted-inference.md: 1e-4 for
linear models, 1e-2 for square networks at scale 2^36), and the labels are the same."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier, SGDRegressor
from sklearn.svm import LinearSVC

LINEAR_TOLERANCE = 1e-4
NETWORK_TOLERANCE = 1e-2


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]  # a small training set: the fits are not what is tested


def _classifiers(X: np.ndarray, y: np.ndarray) -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
    binary = y < 2
    return [
        ("LogisticRegression binary", LogisticRegression(max_iter=500).fit(X[binary], y[binary]), X[binary], y[binary]),
        ("LogisticRegression multinomial", LogisticRegression(max_iter=500).fit(X, y), X, y),
        ("LinearSVC", LinearSVC().fit(X, y), X, y),
        ("SGDClassifier", SGDClassifier(random_state=0).fit(X, y), X, y),
    ]


def test_classifiers_score_as_in_plaintext(digits: tuple[np.ndarray, np.ndarray], wired: Any) -> None:
    X, y = digits
    classifiers = _classifiers(X, y)
    for name, model, Xm, _ in classifiers:
        client, _ = wired(model)
        rows = Xm[:300]
        scores = client.decision_function(rows)
        reference = model.decision_function(rows).reshape(len(rows), -1)
        assert np.abs(scores - reference).max() < LINEAR_TOLERANCE, name
        assert (client.predict(rows) == model.predict(rows)).all(), name
    logistic = classifiers[1][1]
    client, _ = wired(logistic)
    np.testing.assert_allclose(client.predict_proba(X[:50]), logistic.predict_proba(X[:50]), atol=LINEAR_TOLERANCE)


def test_regressors_score_as_in_plaintext(digits: tuple[np.ndarray, np.ndarray], wired: Any) -> None:
    X, y = digits
    for model in (LinearRegression().fit(X, y), Ridge().fit(X, y), SGDRegressor(random_state=0).fit(X, y)):
        client, _ = wired(model)
        np.testing.assert_allclose(client.predict(X[:200]), model.predict(X[:200]), atol=LINEAR_TOLERANCE)


def test_a_square_network_scores_as_in_plaintext(digits: tuple[np.ndarray, np.ndarray], wired: Any) -> None:
    torch = pytest.importorskip("torch")
    from kiln.integrations.encrypted import square_network, train_square_network

    X, y = digits
    network = train_square_network(square_network(64, 10, hidden=(16,)), X, y, epochs=40)
    client, _ = wired(network)
    rows = X[:100]
    with torch.no_grad():
        reference = network(torch.as_tensor(rows, dtype=torch.float32)).double().numpy()
    scores = client.decision_function(rows)
    assert np.abs(scores - reference).max() < NETWORK_TOLERANCE
    assert (client.predict(rows) == reference.argmax(axis=1)).all()


def test_rows_past_one_ciphertext_and_one_request_are_split(digits: tuple[np.ndarray, np.ndarray], wired: Any) -> None:
    X, y = digits
    model = LogisticRegression(max_iter=500).fit(X, y)
    rows = np.vstack([X] * 8)  # 4,800 rows: two chunks of slots
    client, wire = wired(model, max_ciphertexts=16)  # one 4,096-row chunk needs 64: refused, so 16 each
    with pytest.raises(Exception, match="at most 16"):
        client.predict(rows)
    client, wire = wired(model, max_ciphertexts=64)
    assert (client.predict(rows) == model.predict(rows)).all()
    assert sum(1 for b in wire.bodies if b.startswith(b"KILNCKKS1")) == 4  # two requests, two answers


def test_the_server_holds_a_public_context_and_sees_no_plaintext(wired: Any) -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 64))
    model = LogisticRegression(max_iter=500).fit(X, (X[:, 0] > 0).astype(int))
    rows = X[:20] * np.pi  # values that appear nowhere by chance
    client, wire = wired(model)
    labels = client.predict(rows)
    assert (labels == model.predict(rows)).all()
    [context_id] = wire.scorer.contexts._entries
    server_context = wire.scorer.contexts.get(context_id).context
    assert not server_context.is_private() and not server_context.has_secret_key()
    assert client._context.is_private()  # the secret key stays with the client
    everything = b"".join(wire.bodies)
    for value in rows[:3].ravel()[:30]:
        for text in (repr(float(value)), f"{value:.6f}", f"{value:.4f}"):
            assert text.encode() not in everything
        assert struct.pack("<d", value) not in everything and struct.pack("<f", value) not in everything
    scores = model.decision_function(rows)
    for value in scores[:5]:
        assert f"{value:.4f}".encode() not in everything
