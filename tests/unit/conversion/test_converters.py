"""Each converter on a tiny model trained here, with its parity proof: scikit-learn Pipelines (a scaler; a
ColumnTransformer with an encoder and a string column), a regressor, LightGBM (estimator and Booster), a PyTorch
CNN and a Keras network; and the refusals: a tolerance breach, an estimator or flavor with no converter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import onnxruntime
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from kiln.conversion.convert import convert_to_onnx
from kiln.conversion.converters import keras as keras_converter
from kiln.conversion.report import DEFAULT_TOLERANCE, SOURCE_TAG, ConversionReport, report_from_tags
from kiln.conversion.source import SourceModel
from kiln.errors import InvalidSpec, ParityFailed, UnsupportedModel
from tests.conftest import REPO

IRIS = load_iris(as_frame=True)
NO_INFERENCE = ["scikit-learn"]  # MLflow infers requirements by loading the model in a new Python: seconds a save


def _iris_pipeline(folder: Path) -> Path:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(IRIS.data, IRIS.target)
    mlflow.sklearn.save_model(model, str(folder), input_example=IRIS.data[:5], pip_requirements=NO_INFERENCE)
    return folder


def test_a_scikit_learn_pipeline_with_a_scaler_converts_with_its_probabilities(tmp_path: Path) -> None:
    report = convert_to_onnx(_iris_pipeline(tmp_path / "iris"), tmp_path / "onnx", converted_from="iris:3")
    assert report.passed and report.label_agreement == 1.0 and report.max_abs_diff < DEFAULT_TOLERANCE
    assert report.sources == {"example": 5, "generated": 200} and report.rows_checked == 205
    assert {"skl2onnx", "onnx", "onnxruntime", "sklearn"} == set(report.converters)
    saved = mlflow.models.Model.load(str(tmp_path / "onnx"))
    assert {"onnx", "python_function"} <= set(saved.flavors)
    tags = saved.metadata["kiln_version_tags"]
    assert tags[SOURCE_TAG] == "iris:3" and report_from_tags(tags) == report
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    (single,) = session.get_inputs()
    assert single.shape == [None, 4] and [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    labels, probabilities = session.run(None, {single.name: IRIS.data.to_numpy(np.float32)})
    assert probabilities.shape == (150, 3) and (labels == IRIS.target.to_numpy()).mean() > 0.9


def test_a_column_transformer_with_an_encoder_gets_one_input_per_column(tmp_path: Path) -> None:
    frame = IRIS.data.assign(colour=np.where(IRIS.target == 0, "red", "blue"))
    encode = ColumnTransformer(
        [("numbers", StandardScaler(), list(IRIS.data.columns)), ("words", OneHotEncoder(), ["colour"])]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(frame, IRIS.target)
    mlflow.sklearn.save_model(model, str(tmp_path / "mixed"), input_example=frame[::15], pip_requirements=NO_INFERENCE)
    report = convert_to_onnx(tmp_path / "mixed", tmp_path / "onnx")
    assert report.passed and report.label_agreement == 1.0
    inputs = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx")).get_inputs()
    assert [i.type for i in inputs] == ["tensor(float)"] * 4 + ["tensor(string)"]


def test_a_regressor_has_scores_and_no_labels(tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    mlflow.sklearn.save_model(
        Ridge().fit(X, y), str(tmp_path / "ridge"), input_example=X[:5], pip_requirements=NO_INFERENCE
    )
    report = convert_to_onnx(tmp_path / "ridge", tmp_path / "onnx", tolerance=1e-3)
    assert report.passed and report.label_agreement is None and 0 < report.max_abs_diff < 1e-3


def test_lightgbm_converts_through_onnxmltools_as_an_estimator_and_as_a_booster(tmp_path: Path) -> None:
    import lightgbm

    estimator = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(IRIS.data, IRIS.target)
    mlflow.sklearn.save_model(
        estimator,
        str(tmp_path / "lgbm"),
        input_example=IRIS.data[:5],
        serialization_format="cloudpickle",
        pip_requirements=NO_INFERENCE,
    )
    report = convert_to_onnx(tmp_path / "lgbm", tmp_path / "lgbm-onnx")
    assert report.passed and {"onnxmltools", "lightgbm"} <= set(report.converters)

    data = lightgbm.Dataset(IRIS.data, IRIS.target)
    booster = lightgbm.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, data, num_boost_round=10)
    mlflow.lightgbm.save_model(
        booster, str(tmp_path / "booster"), input_example=IRIS.data[:5], pip_requirements=NO_INFERENCE
    )
    report = convert_to_onnx(tmp_path / "booster", tmp_path / "booster-onnx")
    assert report.passed and report.source_flavor == "lightgbm" and report.label_agreement == 1.0


def test_a_pytorch_cnn_converts_with_a_dynamic_batch_axis(tmp_path: Path) -> None:
    import torch
    from torch import nn

    from kiln.integrations.torch import save_model

    torch.manual_seed(0)
    network = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10),
        nn.Softmax(dim=1),
    )  # fmt: skip
    pixels = load_digits().data.astype(np.float32) / 16
    save_model(network, tmp_path / "cnn", pixels)
    report = convert_to_onnx(tmp_path / "cnn", tmp_path / "onnx")
    assert report.passed and report.source_flavor == "pytorch" and report.max_abs_diff < 1e-5
    assert {"torch", "onnxscript", "onnx", "onnxruntime"} == set(report.converters)
    (single,) = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx")).get_inputs()
    assert isinstance(single.shape[0], str) and single.shape[1:] == [64]  # any batch size


CONVERT = """
import sys
from kiln.conversion.job import main
sys.exit(main({arguments!r}))
"""
KERAS_TRAIN = """
import numpy as np, keras, mlflow
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).random((64, 6, 6)).astype("float32")
y = (x.mean(axis=(1, 2)) > 0.5).astype("int64")
model = keras.Sequential([keras.Input((6, 6)), keras.layers.Reshape((6, 6, 1)), keras.layers.Conv2D(2, 3, activation="relu"),
                          keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
model.compile(loss="sparse_categorical_crossentropy")
model.fit(x, y, epochs=1, verbose=0)
import os; os.makedirs({folder!r})
signature = mlflow.models.infer_signature(x[:4], model.predict(x[:4], verbose=0))
mlflow.keras.save_model(model, {folder!r}, signature=signature, input_example=x[:4], pip_requirements=["keras"])
"""


def test_a_keras_network_converts_through_keras_export_in_the_jobs_process(tmp_path: Path) -> None:
    """Trained, then converted by the job's entry point (kiln.conversion.job), in one Python on the torch backend
    (the backend the job picks when tf2onnx is not installed): no tf2onnx needed."""
    folder, script = tmp_path / "keras", KERAS_TRAIN + CONVERT
    arguments = ["--model", str(tmp_path / "keras"), "--output", str(tmp_path / "onnx"), "--source", "shapes:1",
                 "--tolerance", "1e-4"]  # fmt: skip
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(REPO / "src"), "MLFLOW_TRACKING_URI": ""}
    done = subprocess.run(
        [sys.executable, "-c", script.format(folder=str(folder), arguments=arguments)],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.split("parity report: ", 1)[1].splitlines()[0])
    assert report["passed"] and report["source_flavor"] == "keras" and "keras" in report["converters"]
    assert report["max_abs_diff"] < 1e-4 and (tmp_path / "onnx" / "model.onnx").is_file()


def test_keras_graphs_exported_for_tensorflow_name_the_tf2onnx_versions_that_would_work(tmp_path: Path) -> None:
    source = SourceModel(tmp_path, "keras", {"save_exported_model": True}, None, None, "float32", (-1, 4), None)
    with pytest.raises(UnsupportedModel, match=r"tf2onnx .*TensorFlow 2\.9-2\.15.*Supported: Keras 3 models saved as"):
        keras_converter.convert(source, None)


def test_a_tolerance_breach_raises_parity_failed_with_the_report_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ParityFailed) as failed:
        convert_to_onnx(_iris_pipeline(tmp_path / "iris"), tmp_path / "onnx", tolerance=1e-15)
    report = failed.value.report
    assert isinstance(report, ConversionReport) and not report.passed and report.max_abs_diff > 1e-15
    assert "OVER tolerance 1e-15" in failed.value.message and not (tmp_path / "onnx").exists()


class Stubborn(ClassifierMixin, BaseEstimator):
    """A classifier skl2onnx has never heard of."""

    def fit(self, X: object, y: object) -> Stubborn:
        self.classes_ = np.unique(np.asarray(y))
        return self

    def predict(self, X: object) -> np.ndarray:
        return np.zeros(len(np.asarray(X)), dtype=int)


def test_an_estimator_without_a_converter_is_named_with_what_is_supported(tmp_path: Path) -> None:
    model = make_pipeline(StandardScaler(), Stubborn()).fit(IRIS.data, IRIS.target)
    mlflow.sklearn.save_model(
        model,
        str(tmp_path / "stubborn"),
        input_example=IRIS.data[:3],
        serialization_format="cloudpickle",
        pip_requirements=NO_INFERENCE,
    )
    with pytest.raises(
        UnsupportedModel, match=r"cannot convert StandardScaler → Stubborn: .* It converts \d+ scikit-learn"
    ):
        convert_to_onnx(tmp_path / "stubborn", tmp_path / "onnx")


def test_an_onnx_model_or_a_missing_signature_is_refused_before_any_work(tmp_path: Path) -> None:
    convert_to_onnx(_iris_pipeline(tmp_path / "iris"), tmp_path / "onnx")
    with pytest.raises(UnsupportedModel, match="it is already ONNX; supported flavors: sklearn"):
        convert_to_onnx(tmp_path / "onnx", tmp_path / "again")
    mlflow.sklearn.save_model(
        Ridge().fit([[1.0], [2.0]], [1.0, 2.0]), str(tmp_path / "bare"), pip_requirements=NO_INFERENCE
    )
    with pytest.raises(UnsupportedModel, match="it has no MLflow signature"):
        convert_to_onnx(tmp_path / "bare", tmp_path / "bare-onnx")
    with pytest.raises(InvalidSpec, match="is not empty"):
        convert_to_onnx(tmp_path / "iris", tmp_path / "iris")


def test_rows_of_a_data_asset_join_the_proof(tmp_path: Path) -> None:
    extra = pd.DataFrame(IRIS.data.to_numpy()[::3], columns=IRIS.data.columns)
    report = convert_to_onnx(_iris_pipeline(tmp_path / "iris"), tmp_path / "onnx", extra_rows=extra)
    assert report.sources["data"] == 50 and report.rows_checked == 255 and report.passed


def test_a_data_asset_is_read_as_rows_and_must_have_the_signatures_columns(tmp_path: Path) -> None:
    from kiln.conversion.job import read_rows

    (tmp_path / "table").mkdir()
    IRIS.data[:10].to_csv(tmp_path / "table" / "a.csv", index=False)
    IRIS.data[10:15].to_parquet(tmp_path / "table" / "b.parquet")
    rows = read_rows(tmp_path / "table")
    assert list(rows.columns) == list(IRIS.data.columns) and len(rows) == 15
    report = convert_to_onnx(_iris_pipeline(tmp_path / "iris"), tmp_path / "onnx", extra_rows=rows)
    assert report.sources["data"] == 15 and report.passed
    with pytest.raises(InvalidSpec, match="data: the rows have no column 'petal width \\(cm\\)'"):
        convert_to_onnx(tmp_path / "iris", tmp_path / "onnx-2", extra_rows=rows.drop(columns=["petal width (cm)"]))
