"""Encrypted deployments behind an endpoint: a real workspace server and replica. EncryptedClient's
labels equal the plaintext model's (scores within CKKS error), ``kiln online-endpoint invoke --encrypted``
prints them, a plaintext body is refused with how to encrypt, the replica's log holds no row value, and a
model without a homomorphic form is refused at create with the list of what is supported."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.errors import InvalidInput, KilnError
from tests.conftest import WorkspaceServer

pytestmark = pytest.mark.slow
pytest.importorskip("tenseal")

FAST_PROBES = {"readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 120}}
DIGITS = load_digits()
X = DIGITS.data * (np.pi / 16)  # values that appear nowhere by chance (the log check looks for them)
MODEL = LogisticRegression(max_iter=300).fit(X[:800], DIGITS.target[:800])
ROWS = X[1000:1040]
TOLERANCE = 1e-4


def _register(workspace: WorkspaceServer, tmp: Path, name: str, model: object) -> str:
    path = tmp / name
    mlflow.sklearn.save_model(model, str(path), input_example=X[:2])
    with workspace.client() as client:
        client.models.create(name=name, path=str(path))
    return name


@pytest.fixture(scope="module")
def endpoint(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("encrypted")
    model = _register(workspace, tmp, "digits-linear", MODEL)
    with workspace.client() as client:
        client.online_endpoints.create({"name": "digits-enc"})
        view = client.online_deployments.create(
            {
                "name": "blue",
                "endpoint_name": "digits-enc",
                "model": f"kiln:{model}@latest",
                "encryption": {"scheme": "ckks"},
                **FAST_PROBES,
            },
            all_traffic=True,
        )
        assert view.ready_replicas == 1
    yield "digits-enc"
    with workspace.client() as client:
        client.online_endpoints.delete("digits-enc")


def test_the_sdk_scores_encrypted_rows_as_the_model_does(workspace: WorkspaceServer, endpoint: str) -> None:
    with workspace.client() as client:
        with client.online_endpoints.encrypted_client(endpoint) as encrypted:
            scores = encrypted.decision_function(ROWS)
            assert encrypted.info["parameters"]["poly_modulus_degree"] == 8192
            assert encrypted.info["active_contexts"] >= 0
            assert (encrypted.predict(ROWS) == MODEL.predict(ROWS)).all()
            probabilities = encrypted.predict_proba(ROWS[:5])
        assert np.abs(scores - MODEL.decision_function(ROWS)).max() < TOLERANCE
        np.testing.assert_allclose(probabilities, MODEL.predict_proba(ROWS[:5]), atol=TOLERANCE)
        with pytest.raises(InvalidInput, match="only homomorphically encrypted"):
            client.online_endpoints.invoke(endpoint, body={"input_data": ROWS[:2].tolist()})
        log = client.online_deployments.get_logs("blue", endpoint, lines=1000)
    assert "scored 40 encrypted rows" in log
    for value in ROWS[:2].ravel()[:40]:
        if value:
            assert f"{value:.5f}" not in log


def test_the_cli_invokes_with_encryption(workspace: WorkspaceServer, endpoint: str, tmp_path: Path) -> None:
    request = tmp_path / "rows.json"
    request.write_text(json.dumps({"input_data": ROWS[:7].tolist()}))
    result = workspace.cli("online-endpoint", "invoke", "-n", endpoint, "--encrypted", "--request-file", str(request))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["predictions"] == MODEL.predict(ROWS[:7]).tolist()
    assert np.abs(np.asarray(answer["scores"]) - MODEL.decision_function(ROWS[:7])).max() < TOLERANCE


def test_a_model_without_a_homomorphic_form_is_refused_at_create(
    workspace: WorkspaceServer, endpoint: str, tmp_path: Path
) -> None:
    scaled = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X[:300], DIGITS.target[:300])
    tree = _register(workspace, tmp_path, "digits-pipeline", scaled)
    with workspace.client() as client:
        with pytest.raises(KilnError) as refused:
            client.online_deployments.create(
                {
                    "name": "tree",
                    "endpoint_name": endpoint,
                    "model": f"kiln:{tree}@latest",
                    "encryption": {"scheme": "ckks"},
                }
            )
        names = [d.name for d in client.online_deployments.list(endpoint)]
    assert refused.value.http_status == 422
    assert "Pipeline" in refused.value.message and "LogisticRegression" in refused.value.message
    assert "tree" not in names
    result = workspace.cli("online-deployment", "create", "-f", str(_spec_file(tmp_path, endpoint, tree)))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no exact homomorphic form" in result.stderr + result.stdout


def _spec_file(tmp: Path, endpoint: str, model: str) -> Path:
    path = tmp / "encrypted.yml"
    path.write_text(f"name: tree\nendpoint_name: {endpoint}\nmodel: kiln:{model}@latest\nencryption:\n  scheme: ckks\n")
    return path


def test_the_studio_page_says_the_deployment_is_encrypted(workspace: WorkspaceServer, endpoint: str) -> None:
    import httpx

    with httpx.Client(base_url=workspace.url, timeout=60) as http:
        signed_in = http.post("/login", data={"token": workspace.token, "next": f"/ui/endpoints/{endpoint}"})
        assert signed_in.status_code in (200, 303), signed_in.text[:500]
        page = http.get(f"/ui/endpoints/{endpoint}")
    assert page.status_code == 200, page.text[:500]
    assert 'data-encrypted="blue"' in page.text and "encrypted (CKKS)" in page.text
    assert 'id="encrypted-note"' in page.text and "--encrypted" in page.text
