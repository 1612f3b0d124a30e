"""The TensorFlow and Keras 3 examples end to end, through the CLI: job → metrics in MLflow →
the registered model belongs to the job's run → loaded back and right on held-out images →
TensorBoard event files in the job's kept logs → one model served by an online endpoint."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tests.conftest import REPO, WorkspaceServer

EXAMPLES_DIR = REPO / "examples"


def digits_held_out() -> tuple[np.ndarray, np.ndarray]:
    """The quarter of the digits the job kept out of training (same split, seed 0)."""
    X, y = load_digits(return_X_y=True)
    _, X_test, _, y_test = train_test_split(X.astype(np.float32), y, test_size=0.25, random_state=0, stratify=y)
    return X_test, y_test


def shapes_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_shapes", EXAMPLES_DIR / "keras-images" / "src" / "shapes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shapes_held_out() -> tuple[np.ndarray, np.ndarray]:
    """Images the job never saw: another seed of the same generator."""
    images, labels = shapes_module().make_shapes(240, seed=4242)
    return images, labels


@dataclass(frozen=True)
class Example:
    model_name: str
    epochs: int
    held_out: Callable[[], tuple[np.ndarray, np.ndarray]]
    classes: int
    accuracy_floor: float  # the jobs reach ~0.97 (digits) and ~0.96 (shapes)
    # TensorBoard: {folder under ./logs: tags written once per epoch}
    curves: dict[str, tuple[str, ...]]


EXAMPLES = {
    "tensorflow-digits": Example(
        "tf-digits", 20, digits_held_out, 10, 0.9, {"train": ("loss",), "test": ("accuracy",)}
    ),
    "keras-images": Example(
        "keras-shapes", 8, shapes_held_out, 3, 0.85,
        {"train": ("epoch_loss", "epoch_accuracy"), "validation": ("epoch_loss", "epoch_accuracy")},
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def example_jobs(workspace: WorkspaceServer) -> Callable[[str], dict[str, Any]]:
    """Each example's job, run once for this module through ``kiln job create --stream``: its JSON view
    (module-scoped, so that pytest-xdist keeps the tests that share a training on one worker)."""
    views: dict[str, dict[str, Any]] = {}

    def run(example: str) -> dict[str, Any]:
        if example not in views:
            result = workspace.cli(
                "job", "create", "-f", str(EXAMPLES_DIR / example / "job.yml"), "--stream", "-o", "json",
                check=True, timeout=540,
            )  # fmt: skip
            start = result.stdout.rfind("\n{\n")  # the view follows the streamed log
            view = json.loads(result.stdout[start + 1 :])
            assert view["status"] == "completed", result.stdout[-3000:]
            views[example] = view
        return views[example]

    return run


def latest_version(mlflow_client: Any, name: str) -> Any:
    return max(mlflow_client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))


def tensorboard_curves(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of ``folder``, read by TensorBoard's own reader: TF2's
    ``tf.summary`` writes scalars as tensors, older writers as simple values."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    curves = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    for tag in events.Tags()["tensors"]:
        if events.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":  # not Keras's model config, say
            curves[tag] = [(e.step, float(make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]
    return curves


@pytest.mark.timeout(600)
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_trains_logs_registers_and_predicts(
    example: str,
    workspace: WorkspaceServer,
    example_jobs: Callable[[str], dict[str, Any]],
    mlflow_client: Any,
    tmp_path: Path,
) -> None:
    spec = EXAMPLES[example]
    view = example_jobs(example)

    # metrics and params through the real mlflow client, in the job's own run
    run = mlflow_client.get_run(view["id"])
    assert run.data.metrics["test_accuracy"] > spec.accuracy_floor, run.data.metrics
    history = mlflow_client.get_metric_history(
        view["id"], "test_accuracy" if example == "tensorflow-digits" else "loss"
    )
    assert len(history) == spec.epochs  # one value per epoch (the Keras one from MLflow's autologging)
    assert int(run.data.params["epochs"]) == spec.epochs

    # the registered version is the job's model, with a tensor signature an endpoint checks requests against
    latest = latest_version(mlflow_client, spec.model_name)
    assert latest.run_id == view["id"]
    model = mlflow.pyfunc.load_model(f"models:/{spec.model_name}/{latest.version}")
    inputs = model.metadata.get_input_schema()
    assert inputs is not None and inputs.is_tensor_spec()
    X, y = spec.held_out()
    assert list(inputs.inputs[0].shape) == [-1, *X.shape[1:]]
    assert model.metadata.get_input_schema().inputs[0].type == np.dtype("float32")

    probabilities = np.asarray(model.predict(X))
    assert probabilities.shape == (len(X), spec.classes)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == y))
    assert accuracy > spec.accuracy_floor, accuracy
    if example == "tensorflow-digits":  # a table of 64 pixel columns, as a JSON client's frame arrives, works too
        framed = np.asarray(model.predict(pd.DataFrame(X[:5])))
        np.testing.assert_allclose(framed, probabilities[:5], rtol=1e-5)

    # TensorBoard: the job's ./logs, kept with the job as output 'logs', read by TensorBoard's reader
    workspace.cli(
        "job", "download", "-n", view["name"], "--output-name", "logs", "--download-path", str(tmp_path), check=True
    )
    for folder, tags in spec.curves.items():
        assert any((tmp_path / "logs" / folder).glob("events.out.tfevents.*")), folder
        curves = tensorboard_curves(tmp_path / "logs" / folder)
        for tag in tags:
            points = curves.get(tag)
            assert points is not None, f"{folder}/{tag} not in {sorted(curves)}"
            assert [step for step, _ in points] == list(range(spec.epochs))
        if "loss" in tags or "epoch_loss" in tags:
            losses = [value for _, value in curves["loss" if "loss" in tags else "epoch_loss"]]
            assert losses[-1] < losses[0] / 2, losses  # it learned


@pytest.mark.timeout(600)
def test_the_tensorflow_model_answers_on_an_online_endpoint(
    workspace: WorkspaceServer, example_jobs: Callable[[str], dict[str, Any]], mlflow_client: Any
) -> None:
    """tf-digits as the job registered it, deployed with no code: JSON rows of 64 pixel values in,
    10 probabilities per row out, through the scoring URI with the endpoint's key."""
    view = example_jobs("tensorflow-digits")
    version = latest_version(mlflow_client, "tf-digits")
    assert version.run_id == view["id"]
    X, y = digits_held_out()
    rows = X[:8].tolist()
    with workspace.client() as client:
        client.online_endpoints.create({"name": "tf-digits", "auth_mode": "key"})
        try:
            client.online_deployments.create(
                {"name": "blue", "endpoint_name": "tf-digits", "model": f"kiln:tf-digits:{version.version}",
                 "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 120}},
                all_traffic=True,
            )  # fmt: skip
            endpoint = client.online_endpoints.get("tf-digits")
            key = client.online_endpoints.get_keys("tf-digits").primary_key
            assert httpx.post(endpoint.scoring_uri, json={"input_data": rows}, timeout=60).status_code == 401  # no key
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
                azure = http.post(endpoint.scoring_uri, json={"input_data": rows})
                assert azure.status_code == 200, azure.text
                assert azure.headers["azureml-model-deployment"] == "blue"
                answered = np.asarray(azure.json())
                assert answered.shape == (8, 10)
                assert np.mean(answered.argmax(axis=1) == y[:8]) >= 0.75
                local = np.asarray(mlflow.pyfunc.load_model(f"models:/tf-digits/{version.version}").predict(X[:8]))
                np.testing.assert_allclose(answered, local, rtol=1e-4, atol=1e-6)  # the same model, served

                invocations = endpoint.scoring_uri.removesuffix("/score") + "/invocations"
                mlflow_style = http.post(invocations, json={"inputs": rows[:3]})
                assert mlflow_style.status_code == 200, mlflow_style.text
                np.testing.assert_allclose(mlflow_style.json()["predictions"], answered[:3], rtol=1e-4, atol=1e-6)

                too_short = http.post(endpoint.scoring_uri, json={"input_data": [row[:63] for row in rows[:2]]})
                assert too_short.status_code == 400
                assert "[-1, 64]" in too_short.text, too_short.text  # the signature's shape, named to the caller
        finally:
            client.online_endpoints.delete("tf-digits")
