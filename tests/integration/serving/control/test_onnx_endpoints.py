"""ONNX models behind an endpoint: real workspace server, real replicas on ONNX Runtime. All three
protocols answer (Azure /score, MLflow /invocations, Open Inference V2 through an unmodified
tritonclient), the Node.js example (examples/onnx-node) prints the same predictions for the same
rows from the exported file, and ``runtime: onnx`` converts an sklearn model, or refuses it with
the parity report."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import mlflow.onnx
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.errors import KilnError
from tests.conftest import WorkspaceServer

pytestmark = pytest.mark.slow
skl2onnx = pytest.importorskip("skl2onnx")

REPO = Path(__file__).resolve().parents[4]
NODE_EXAMPLE = REPO / "examples" / "onnx-node"
FAST_PROBES = {"readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 120}}
IRIS = load_iris()
ROWS = IRIS.data[[0, 1, 50, 60, 100, 120, 149]].tolist()
PIPELINE = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(IRIS.data, IRIS.target)


@pytest.fixture(scope="module")
def onnx_model(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """'iris-onnx': the iris pipeline as an ONNX graph (labels and a probability matrix), registered
    from an MLflow model folder with the onnx flavor."""
    graph = skl2onnx.to_onnx(PIPELINE, IRIS.data[:1].astype(np.float32), options={"zipmap": False}, target_opset=17)
    path = tmp_path_factory.mktemp("onnx-model") / "model"
    mlflow.onnx.save_model(
        graph, str(path), input_example=IRIS.data[:2].astype(np.float32), pip_requirements=["onnxruntime"]
    )
    with workspace.client() as client:
        client.models.create(name="iris-onnx", path=str(path))
    return "iris-onnx"


@pytest.fixture(scope="module")
def endpoint(workspace: WorkspaceServer, onnx_model: str) -> tuple[str, str]:
    """Endpoint 'onnx-iris' serving it (ONNX Runtime with 2 intra-op threads); its scoring base and key."""
    with workspace.client() as client:
        client.online_endpoints.create({"name": "onnx-iris"})
        view = client.online_deployments.create(
            {
                "name": "blue",
                "endpoint_name": "onnx-iris",
                "model": f"kiln:{onnx_model}@latest",
                "onnx": {"intra_op_threads": 2},
                **FAST_PROBES,
            },
            all_traffic=True,
        )
        assert view.ready_replicas == 1
        key = client.online_endpoints.get_keys("onnx-iris").primary_key
    yield f"{workspace.url}/endpoints/onnx-iris", key
    with workspace.client() as client:
        client.online_endpoints.delete("onnx-iris")


def test_an_onnx_model_answers_all_three_protocols(endpoint: tuple[str, str], onnx_model: str) -> None:
    import tritonclient.http as triton

    base, key = endpoint
    auth = {"Authorization": f"Bearer {key}"}
    expected = PIPELINE.predict(np.asarray(ROWS)).tolist()
    with httpx.Client(headers=auth, timeout=60) as http:
        scored = http.post(f"{base}/score", json={"input_data": ROWS})
        assert scored.status_code == 200, scored.text
        assert scored.json()["label"] == expected
        probabilities = np.asarray(scored.json()["probabilities"])
        assert np.allclose(probabilities, PIPELINE.predict_proba(np.asarray(ROWS)), atol=1e-5)
        invoked = http.post(f"{base}/invocations", json={"instances": ROWS})
        assert invoked.status_code == 200, invoked.text
        assert invoked.json()["predictions"] == scored.json()
        metadata = http.get(f"{base}/v2/models/{onnx_model}").json()
        assert metadata["platform"] == "onnxruntime_onnx"
        wrong = http.post(f"{base}/score", json={"input_data": [[1.0, 2.0]]})
        assert wrong.status_code in (400, 500) and "error" in wrong.json()  # ONNX Runtime's shape check, not a crash

    client = triton.InferenceServerClient(url=base.removeprefix("http://"))
    try:
        features = triton.InferInput("X", [len(ROWS), 4], "FP32")
        features.set_data_from_numpy(np.asarray(ROWS, dtype=np.float32))  # binary tensors
        result = client.infer(onnx_model, [features], headers=auth)
        assert result.as_numpy("label").tolist() == expected
        # the same float32 numbers (JSON writes each float32 in its shortest form)
        assert np.array_equal(result.as_numpy("probabilities"), np.asarray(scored.json()["probabilities"], np.float32))
    finally:
        client.close()


def _node_example_ready() -> str | None:
    """Why the Node.js example cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not on this machine"
    if not (NODE_EXAMPLE / "node_modules" / "onnxruntime-node").is_dir():
        return "examples/onnx-node has no node_modules (scripts/install.sh test installs it with npm ci)"
    return None


def test_the_node_example_prints_the_endpoints_predictions(
    workspace: WorkspaceServer, endpoint: tuple[str, str], onnx_model: str, tmp_path: Path
) -> None:
    """The exported model.onnx on onnxruntime-node: the same labels as kiln's endpoint, the same probabilities
    (to float32's precision: another ONNX Runtime build)."""
    why_not = _node_example_ready()
    if why_not is not None:
        pytest.skip(why_not)
    with workspace.client() as client:
        folder = client.models.download(onnx_model, download_path=tmp_path)
    model_file = next(Path(folder).rglob("model.onnx"))
    body = {"input_data": ROWS}
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps(body))
    node = subprocess.run(
        ["node", str(NODE_EXAMPLE / "score.js"), str(model_file), str(rows_file)],
        capture_output=True, text=True, timeout=120, cwd=NODE_EXAMPLE,
    )  # fmt: skip
    assert node.returncode == 0, node.stderr
    printed = json.loads(node.stdout)
    base, key = endpoint
    answer = httpx.post(f"{base}/score", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60).json()
    assert printed["label"] == answer["label"]
    assert np.allclose(printed["probabilities"], answer["probabilities"], rtol=0, atol=1e-6)
    # bad rows: a clear message, no stack
    (tmp_path / "bad.json").write_text('{"input_data": [[1, 2], [3]]}')
    bad = subprocess.run(["node", str(NODE_EXAMPLE / "score.js"), str(model_file), str(tmp_path / "bad.json")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and "row 1 has 1 values" in bad.stderr


needs_conversion = pytest.mark.skipif(
    importlib.util.find_spec("kiln.conversion") is None, reason="kiln.conversion (branch 'conversion') is not merged"
)


@pytest.fixture(scope="module")
def sklearn_model(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sklearn-model") / "model"
    mlflow.sklearn.save_model(PIPELINE, str(path), input_example=IRIS.data[:2], pip_requirements=["scikit-learn"])
    with workspace.client() as client:
        client.models.create(name="iris-native", path=str(path))
    return "iris-native"


@needs_conversion
def test_runtime_onnx_serves_an_sklearn_model_converted(workspace: WorkspaceServer, sklearn_model: str) -> None:
    spec = {"endpoint_name": "onnx-convert", "model": f"kiln:{sklearn_model}@latest", "runtime": "onnx", **FAST_PROBES}
    with workspace.client() as client:
        client.online_endpoints.create({"name": "onnx-convert"})
        try:
            client.online_deployments.create({"name": "blue", **spec}, all_traffic=True)
            answer = client.online_endpoints.invoke("onnx-convert", body={"input_data": ROWS})
            labels = answer["label"] if isinstance(answer, dict) else [row["label"] for row in answer]
            assert labels == PIPELINE.predict(np.asarray(ROWS)).tolist()
            # a tolerance no float32 graph meets: refused, the report as the reason, no traceback
            with pytest.raises(KilnError) as refused:
                client.online_deployments.create({"name": "strict", **spec, "onnx": {"parity_tolerance": 1e-15}})
            message = refused.value.message
            assert "runtime: onnx: the model was not converted" in message and "Traceback" not in message
            assert client.online_deployments.get("strict", "onnx-convert").state.value == "failed"
        finally:
            client.online_endpoints.delete("onnx-convert")
