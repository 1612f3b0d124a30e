"""Encrypted deployments (``encryption: {scheme: ckks}``), probed as an attacker would:

- keys: the encrypted routes sit below the scoring URI and need the endpoint's key like ``/score``: no key, a
  wrong key, a workspace user's own token (the endpoint is key-authenticated) are refused; a reader may not
  create an encrypted deployment;
- size bombs: a body past ``max_request_mb`` (with its Content-Length, and streamed without one), a frame whose
  header claims gigabytes, more ciphertexts than allowed: a 4xx, never a 500, and the replica keeps serving;
- a context carrying its secret key is refused (the server never holds one); a plain deployment's
  ``/encrypted`` routes say it is not encrypted.
"""

from __future__ import annotations

from collections.abc import Iterator

import mlflow.sklearn
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from kiln.encrypted import wire
from tests.conftest import WorkspaceServer
from tests.security.conftest import Seeded, Team, bearer_http

pytest.importorskip("tenseal")

ENDPOINT = "enc-probe"


@pytest.fixture(scope="module")
def encrypted(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An endpoint whose deployment reads at most 1 MiB a request and 4 ciphertexts; its primary key."""
    X, y = load_digits(return_X_y=True)
    path = tmp_path_factory.mktemp("enc") / "model"
    mlflow.sklearn.save_model(LogisticRegression(max_iter=200).fit(X[:500], y[:500]), str(path), input_example=X[:2])
    with team.contributor.client(security_server) as client:
        client.models.create(name="enc-probe-model", path=str(path))
        client.online_endpoints.create({"name": ENDPOINT})
        view = client.online_deployments.create(
            {
                "name": "blue",
                "endpoint_name": ENDPOINT,
                "model": "kiln:enc-probe-model@latest",
                "encryption": {"scheme": "ckks", "max_request_mb": 1, "max_ciphertexts": 4},
                "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 120},
            },
            all_traffic=True,
        )
        assert view.ready_replicas == 1
        key = client.online_endpoints.get_keys(ENDPOINT).primary_key
    yield key
    with team.contributor.client(security_server) as client:
        client.online_endpoints.delete(ENDPOINT)


def _url(server: WorkspaceServer, path: str, endpoint: str = ENDPOINT) -> str:
    return f"{server.url}/endpoints/{endpoint}/encrypted{path}"


def test_the_encrypted_routes_need_the_endpoint_key(
    security_server: WorkspaceServer, team: Team, encrypted: str
) -> None:
    for token in (None, "not-a-key", team.contributor.token, team.workspace_token):
        with bearer_http(security_server, token) as http:
            assert http.get(_url(security_server, "")).status_code == 401
            assert http.post(_url(security_server, "/contexts"), content=b"x").status_code == 401
            assert http.post(_url(security_server, "/score"), content=wire.MAGIC).status_code == 401
    with bearer_http(security_server, encrypted) as http:
        answer = http.get(_url(security_server, ""))
    assert answer.status_code == 200 and answer.json()["parameters"]["security_bits"] == 128


def test_a_reader_may_not_create_an_encrypted_deployment(
    security_server: WorkspaceServer, team: Team, encrypted: str
) -> None:
    with team.reader.http(security_server) as http:
        answer = http.post(
            f"{security_server.url}/api/v1/online-endpoints/{ENDPOINT}/deployments",
            json={"name": "green", "endpoint_name": ENDPOINT, "model": "kiln:enc-probe-model@latest",
                  "encryption": {"scheme": "ckks"}},
        )  # fmt: skip
    assert answer.status_code == 403, answer.text
    with team.contributor.client(security_server) as client:
        assert [d.name for d in client.online_deployments.list(ENDPOINT)] == ["blue"]


def test_size_bombs_and_hostile_frames_are_4xx_and_the_replica_keeps_serving(
    security_server: WorkspaceServer, encrypted: str
) -> None:
    big = b"\x00" * (2 << 20)

    def streamed() -> Iterator[bytes]:
        for _ in range(40):
            yield b"\x00" * (64 << 10)

    with bearer_http(security_server, encrypted) as http:
        for path in ("/contexts", "/score"):
            assert http.post(_url(security_server, path), content=big).status_code == 413
            assert http.post(_url(security_server, path), content=streamed()).status_code == 413
        claims = wire.MAGIC + (2**31).to_bytes(4, "big") + b"{}"
        answer = http.post(_url(security_server, "/score"), content=claims)
        assert answer.status_code == 400 and "header length" in answer.json()["error"]["message"]
        many = wire.encode({"context_id": "x", "chunks": []}, [b"a"] * 5)
        answer = http.post(_url(security_server, "/score"), content=many)
        assert answer.status_code == 400 and "at most 4" in answer.json()["error"]["message"]
        for junk in (b"", b"\xff" * 1000, b"KILNCKKS1"):
            assert http.post(_url(security_server, "/contexts"), content=junk).status_code == 400
        assert http.get(_url(security_server, "")).status_code == 200  # still serving


def test_a_private_context_is_refused(security_server: WorkspaceServer, encrypted: str) -> None:
    import tenseal as ts

    with bearer_http(security_server, encrypted) as http:
        parameters = http.get(_url(security_server, "")).json()["parameters"]
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            parameters["poly_modulus_degree"],
            coeff_mod_bit_sizes=parameters["coeff_mod_bit_sizes"],
            encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
        )
        private = context.serialize(save_secret_key=True, save_galois_keys=False, save_relin_keys=False)
        answer = http.post(_url(security_server, "/contexts"), content=private)
        assert answer.status_code == 400 and "secret key" in answer.json()["error"]["message"]
        public = context.serialize(
            save_public_key=False, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
        )
        assert http.post(_url(security_server, "/contexts"), content=public).status_code == 200


def test_a_plain_deployment_is_not_encrypted_and_an_encrypted_one_takes_no_plaintext(
    security_server: WorkspaceServer, seeded: Seeded, seeded_deployment: str, encrypted: str
) -> None:
    with seeded.team.contributor.client(security_server) as client:
        plain_key = client.online_endpoints.get_keys(seeded.endpoint).primary_key
    with bearer_http(security_server, plain_key) as http:
        answer = http.get(_url(security_server, "", seeded.endpoint))
    assert answer.status_code == 400 and "not encrypted" in answer.json()["error"]["message"]
    with bearer_http(security_server, encrypted) as http:
        answer = http.post(f"{security_server.url}/endpoints/{ENDPOINT}/score", json={"input_data": [[0.0] * 64]})
    assert answer.status_code == 400 and "encrypted" in answer.text
