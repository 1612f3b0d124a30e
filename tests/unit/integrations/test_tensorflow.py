"""kiln.integrations.tensorflow and .keras: lazy imports, repeatable seeds, TensorBoard folders,
pinned requirements, and saved models with a signature that load back and predict alike."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest

from kiln.integrations import keras as kiln_keras
from kiln.integrations import tensorflow as kiln_tf
from kiln.integrations.tensorboard import LOG_DIR_VARIABLE

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


class Affine(tf.Module):
    """Flat rows of 4 values in, 3 softmax probabilities out."""

    def __init__(self) -> None:
        super().__init__()
        self.w = tf.Variable(tf.random.normal([4, 3]))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(x @ self.w)


def small_cnn() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((6, 6)),
            keras.layers.Reshape((6, 6, 1)),
            keras.layers.Conv2D(2, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_importing_the_integrations_imports_neither_tensorflow_nor_keras() -> None:
    code = (
        "import sys, kiln, kiln.integrations.tensorflow, kiln.integrations.keras; "
        "print([m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_seed_repeats_draws_and_turns_on_deterministic_ops() -> None:
    kiln_tf.seed(3)
    first = (tf.random.uniform([3]).numpy(), np.random.rand(3))
    kiln_tf.seed(3)
    again = (tf.random.uniform([3]).numpy(), np.random.rand(3))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    kiln_keras.seed(5)
    weights = small_cnn().get_weights()
    kiln_keras.seed(5)
    assert all(np.array_equal(a, b) for a, b in zip(weights, small_cnn().get_weights(), strict=True))
    from tensorflow.python.framework import config  # no public getter

    assert config.is_op_determinism_enabled()


def test_pinned_requirements_pick_the_installed_alternative_without_local_labels() -> None:
    pins = kiln_tf.pinned_requirements("mlflow", kiln_tf.TENSORFLOW_DISTRIBUTIONS, ("no-such-dist-kiln",), "torch")
    assert pins[0] == f"mlflow=={mlflow.__version__}"
    assert pins[1].split("==")[0] in kiln_tf.TENSORFLOW_DISTRIBUTIONS and pins[1].endswith(tf.__version__)
    assert pins[2] == "no-such-dist-kiln"  # not installed: named, unpinned
    assert pins[3].startswith("torch==") and "+" not in pins[3]
    assert kiln_tf.with_pinned_requirements({"conda_env": "env.yml"}, "keras") == {"conda_env": "env.yml"}
    assert kiln_tf.with_pinned_requirements({"extra_pip_requirements": ["x"]}, "keras") == {
        "extra_pip_requirements": ["x"]
    }


def test_summary_writer_and_tensorboard_callback_write_into_the_jobs_log_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOG_DIR_VARIABLE, str(tmp_path / "logs"))
    writer = kiln_tf.summary_writer("train")
    with writer.as_default():
        tf.summary.scalar("loss", 0.5, step=1)
    writer.close()
    assert list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))

    callback = kiln_keras.tensorboard_callback("fit", write_graph=False)
    assert Path(callback.log_dir) == tmp_path / "logs" / "fit"
    kiln_keras.seed(0)
    model = small_cnn()
    model.fit(np.random.rand(8, 6, 6).astype("float32"), np.arange(8) % 3, epochs=1, verbose=0, callbacks=[callback])
    assert list((tmp_path / "logs" / "fit" / "train").glob("events.out.tfevents.*"))


def test_tensorflow_save_model_infers_the_signature_and_loads_back(tmp_path: Path) -> None:
    kiln_tf.seed(0)
    module = Affine()
    rows = np.random.rand(10, 4).astype(np.float32)
    kiln_tf.save_model(module, tmp_path / "model", rows, rows=3)

    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    (given,), (answered,) = loaded.metadata.signature.inputs.inputs, loaded.metadata.signature.outputs.inputs
    assert (given.type, tuple(given.shape)) == (np.dtype("float32"), (-1, 4))
    assert (answered.type, tuple(answered.shape)) == (np.dtype("float32"), (-1, 3))
    np.testing.assert_allclose(loaded.predict(rows), module(rows).numpy(), rtol=1e-6)
    assert np.asarray(
        mlflow.models.Model.load(str(tmp_path / "model")).load_input_example(str(tmp_path / "model"))
    ).shape == (3, 4)
    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert f"mlflow=={mlflow.__version__}" in requirements
    assert any(line.startswith("tensorflow") and line.endswith(tf.__version__) for line in requirements)


@pytest.mark.parametrize("exported", [False, True])
def test_keras_save_model_into_a_new_folder_loads_back_alike(tmp_path: Path, exported: bool) -> None:
    kiln_keras.seed(0)
    model = small_cnn()
    images = np.random.rand(6, 6, 6).astype(np.float32)
    path = tmp_path / "not" / "yet" / "there"  # MLflow's keras flavor alone would fail to write the example here
    kiln_keras.save_model(model, path, images, exported=exported)

    loaded = mlflow.pyfunc.load_model(str(path))
    assert tuple(loaded.metadata.signature.inputs.inputs[0].shape) == (-1, 6, 6)
    assert loaded.metadata.flavors["keras"]["save_exported_model"] is exported
    np.testing.assert_allclose(np.asarray(loaded.predict(images)), model.predict(images, verbose=0), rtol=1e-5)
    requirements = (path / "requirements.txt").read_text().split()
    assert f"keras=={keras.__version__}" in requirements


def test_autolog_turns_on_signatures_and_input_examples_and_lets_the_caller_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, dict[str, object]]] = []
    # the flavour modules themselves: until imported, mlflow.keras is a lazy stand-in that the import replaces
    flavours = {name: importlib.import_module(f"mlflow.{name}") for name in ("tensorflow", "keras")}
    monkeypatch.setattr(flavours["tensorflow"], "autolog", lambda **options: calls.append(("tensorflow", options)))
    monkeypatch.setattr(flavours["keras"], "autolog", lambda **options: calls.append(("keras", options)))
    kiln_tf.autolog(checkpoint=True)
    kiln_keras.autolog(log_models=False)
    assert calls == [
        ("tensorflow", {"log_input_examples": True, "log_model_signatures": True, "checkpoint": True}),
        ("keras", {"log_model_signatures": True, "log_input_examples": True, "log_models": False}),
    ]
