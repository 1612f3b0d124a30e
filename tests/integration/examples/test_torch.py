"""The PyTorch example end to end: a CNN trained by a job → registered with a signature → loaded
back and predicting → fine-tuned by a second job with the base frozen (its lineage shows the base
model) → served by an online endpoint and scored over HTTP with the endpoint's key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_digits

from tests.conftest import REPO, WorkspaceServer
from tests.unit.integrations.test_torch import tensorboard_scalars

EXAMPLE = REPO / "examples" / "pytorch-digits"
DIGITS = load_digits()
ENDPOINT = "digits-odd-even"  # examples/pytorch-digits/endpoint.yml


def _run_job(workspace: WorkspaceServer, job_file: str) -> dict[str, Any]:
    result = workspace.cli("job", "create", "-f", str(EXAMPLE / job_file), "--stream", "-o", "json", check=True)
    view: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "completed", result.stdout[-3000:]
    return view


def _downloaded_logs(workspace: WorkspaceServer, job: str, folder: Path) -> Path:
    workspace.cli("job", "download", "-n", job, "--output-name", "logs", "--download-path", str(folder), check=True)
    return folder / "logs"


def _registered_by(mlflow_client, name: str, run_id: str):  # type: ignore[no-untyped-def]
    """The newest version of ``name``, which must come from the run ``run_id``."""
    latest = max(mlflow_client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
    assert latest.run_id == run_id
    return latest


def test_cnn_trains_registers_fine_tunes_with_lineage_and_serves(
    workspace: WorkspaceServer, mlflow_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # the base network: metrics per epoch, visible to the real mlflow client
    base_job = _run_job(workspace, "base.yml")
    run = mlflow_client.get_run(base_job["id"])
    assert run.data.metrics["base_test_accuracy"] > 0.9
    assert run.data.params["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    history = mlflow_client.get_metric_history(base_job["id"], "test_accuracy")
    epochs = list(range(1, int(run.data.params["epochs"]) + 1))
    assert sorted(point.step for point in history) == epochs
    # the same curves as TensorBoard event files in the job's ./logs, kept as its output 'logs'
    base_logs = _downloaded_logs(workspace, base_job["name"], tmp_path / "base")
    assert [step for tag, step, _ in tensorboard_scalars(base_logs) if tag == "test_accuracy"] == epochs

    # registered as digits-cnn by the job's run, with a signature of flat 64-pixel rows
    base_version = _registered_by(mlflow_client, "digits-cnn", base_job["id"])
    base = mlflow.pyfunc.load_model(f"models:/digits-cnn/{base_version.version}")
    schema = base.metadata.get_input_schema()
    assert schema.is_tensor_spec() and schema.inputs[0].shape == (-1, 64)
    probabilities = base.predict(DIGITS.data[:60])
    assert probabilities.shape == (60, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities.argmax(axis=1) == DIGITS.target[:60]).mean() > 0.9
    as_table = base.predict(pd.DataFrame(DIGITS.data[:3], columns=DIGITS.feature_names))  # 64 pixel columns
    np.testing.assert_allclose(np.asarray(as_table), probabilities[:3], rtol=1e-4)

    # fine-tuned from @latest: the frozen base beats the same network from scratch on 40 labels
    tuned_job = _run_job(workspace, "fine-tune.yml")
    tuned_run = mlflow_client.get_run(tuned_job["id"])
    metrics = tuned_run.data.metrics
    assert metrics["finetuned_test_accuracy"] > max(metrics["from_scratch_test_accuracy"], 0.85), metrics
    tuned_logs = _downloaded_logs(workspace, tuned_job["name"], tmp_path / "tuned")
    for curve in ("finetuned", "from_scratch"):  # one TensorBoard run per network
        steps = [step for tag, step, _ in tensorboard_scalars(tuned_logs / curve) if tag == "train_loss"]
        assert steps == list(range(1, int(tuned_run.data.params["epochs"]) + 1)), curve
    tuned_version = _registered_by(mlflow_client, "digits-cnn-finetuned", tuned_job["id"])
    tuned = mlflow.pyfunc.load_model(f"models:/digits-cnn-finetuned/{tuned_version.version}")
    odd_or_even = tuned.predict(DIGITS.data[:200])
    assert odd_or_even.shape == (200, 2)
    assert (odd_or_even.argmax(axis=1) == DIGITS.target[:200] % 2).mean() > 0.8
    base_weights = mlflow.pytorch.load_model(f"models:/digits-cnn/{base_version.version}").state_dict()
    tuned_weights = mlflow.pytorch.load_model(f"models:/digits-cnn-finetuned/{tuned_version.version}").state_dict()
    convolutions = [key for key in base_weights if key.startswith("features.")]
    assert convolutions and all(torch.equal(base_weights[key], tuned_weights[key]) for key in convolutions)  # frozen
    assert tuned_weights["head.weight"].shape[0] == 2 and base_weights["head.weight"].shape[0] == 10  # new head

    # lineage: the fine-tuned model ← its job ← the exact base version it read (asked as @latest)
    with workspace.client() as client:
        lineage = client.models.lineage("digits-cnn-finetuned", tuned_version.version)
    (producer,) = lineage.upstream
    assert producer.kind == "job" and producer.id == tuned_job["name"]
    upstream_models = [node for node in producer.upstream if node.kind == "model"]
    assert [node.id for node in upstream_models] == [f"digits-cnn:{base_version.version}"]
    assert upstream_models[0].upstream[0].id == base_job["name"]
    printed = workspace.cli("lineage", f"model:digits-cnn-finetuned:{tuned_version.version}", check=True).stdout
    assert base_job["name"] in printed and tuned_job["name"] in printed

    # the example's endpoint serves the fine-tuned model (@latest: this job's version), scored over HTTP
    request = json.loads((EXAMPLE / "sample-request.json").read_text())
    pixels = request["input_data"]  # rows of 64 integers (0-16), as a JSON client writes them
    expected = tuned.predict(np.array(pixels, dtype=np.float64))
    assert expected.argmax(axis=1).tolist() == [0, 1, 0, 1]  # the digits 0, 1, 2, 3: even, odd, even, odd
    workspace.cli("online-endpoint", "create", "-f", str(EXAMPLE / "endpoint.yml"), check=True)
    try:
        workspace.cli("online-deployment", "create", "-f", str(EXAMPLE / "deployment.yml"), "--all-traffic", check=True)
        invoked = workspace.cli(
            "online-endpoint", "invoke", "-n", ENDPOINT, "--request-file", str(EXAMPLE / "sample-request.json"),
            check=True,
        )  # fmt: skip
        np.testing.assert_allclose(np.array(json.loads(invoked.stdout)), expected, rtol=1e-4, atol=1e-6)
        with workspace.client() as client:
            assert client.online_deployments.get("blue", ENDPOINT).model_version == tuned_version.version
            url = client.online_endpoints.get(ENDPOINT).scoring_uri
            auth = {"Authorization": f"Bearer {client.online_endpoints.get_keys(ENDPOINT).primary_key}"}
        scored = httpx.post(url, json=request, headers=auth, timeout=60)
        assert scored.status_code == 200, scored.text
        np.testing.assert_allclose(np.array(scored.json()), expected, rtol=1e-4, atol=1e-6)
        invocations = httpx.post(
            url.removesuffix("/score") + "/invocations", json={"inputs": pixels}, headers=auth, timeout=60
        )
        assert invocations.status_code == 200, invocations.text
        np.testing.assert_allclose(np.array(invocations.json()["predictions"]), expected, rtol=1e-4, atol=1e-6)

        assert httpx.post(url, json=request, timeout=60).status_code == 401  # no key
        too_narrow = httpx.post(url, json={"input_data": [row[:63] for row in pixels]}, headers=auth, timeout=60)
        assert too_narrow.status_code == 400 and "64" in too_narrow.text, too_narrow.text
    finally:
        workspace.cli("online-endpoint", "delete", "-n", ENDPOINT, check=True)
