"""The array path (a scikit-learn estimator on a numpy array) answers exactly as MLflow's pyfunc
path (DataFrame, MLflow's schema enforcement, the flavor's predict) for every kind of model the
examples register: same values bit for bit, same dtypes, same JSON on the wire; and models it
cannot serve identically (column transformers, custom pyfunc code, tensor signatures) stay on
MLflow's path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from kiln.errors import KilnError
from kiln.integrations import sklearn as kiln_sklearn
from kiln.serving.replica.payloads import ModelInput, Prediction
from kiln.serving.replica.protocols import azure, mlflow_invocations
from kiln.serving.replica.scorers import MlflowModelScorer

# MLflow's hint about integer columns (the long-column model has them on purpose)
pytestmark = pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer column")

IRIS = load_iris(as_frame=True)
IRIS_X, IRIS_Y = IRIS.data, IRIS.target


def _loaded(path: Path) -> MlflowModelScorer:
    scorer = MlflowModelScorer(path)
    scorer.load()
    return scorer


def _on_mlflow_path(scorer: MlflowModelScorer, item: ModelInput) -> Prediction:
    fast, scorer.array_path = scorer.array_path, None
    try:
        return scorer.predict(item)
    finally:
        scorer.array_path = fast


def _outcome(predict: Any, item: ModelInput) -> tuple[str, Any, Any]:
    """What a caller gets: the prediction and its JSON, or the error's class and message."""
    try:
        prediction = predict(item)
    except KilnError as exc:
        return "error", type(exc), exc.message
    return "answer", prediction, azure.encode_score_response(prediction)


def _assert_same_outcome(scorer: MlflowModelScorer, item: ModelInput) -> bool:
    """Both paths on one input: the same answer bit for bit, or the same error; True if answered."""
    fast = _outcome(scorer.predict, item)
    slow = _outcome(lambda checked: _on_mlflow_path(scorer, checked), item)
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "error":
        assert fast[1:] == slow[1:]
        return False
    _assert_identical(fast[1], slow[1])
    assert fast[2] == slow[2]
    return True


def _score_body(scorer: MlflowModelScorer, body: dict[str, Any]) -> ModelInput:
    """A /score body as the replica reads it: parsed, then checked against the signature."""
    assert scorer.signature is not None
    return scorer.signature.check(azure.parse_score_request(json.dumps(body).encode(), scorer.signature))


def _assert_identical(fast: Prediction, slow: Prediction) -> None:
    assert fast.kind == slow.kind and fast.rows == slow.rows
    assert list(fast.outputs) == list(slow.outputs)
    for name, ours in fast.outputs.items():
        theirs = slow.outputs[name]
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert ours.tobytes() == theirs.tobytes()  # bit for bit, not approximately


def _requests(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One row, 64 rows, named columns in another order, integers in double columns."""
    columns = list(frame.columns)
    many = frame.sample(64, replace=True, random_state=1)
    shuffled = columns[::-1]
    return [
        {"input_data": {"columns": columns, "data": frame.iloc[:1].to_numpy().tolist()}},
        {"input_data": {"columns": columns, "data": many.to_numpy().tolist()}},
        {"input_data": {"columns": shuffled, "data": many[shuffled].to_numpy().tolist()}},
        {
            "input_data": {
                "columns": columns,
                "data": [[int(round(v)) for v in row] for row in many.to_numpy().tolist()],
            }
        },
        {"input_data": many.to_numpy().tolist()},  # no column names: the signature's order
    ]


QUICK = {"pip_requirements": ["scikit-learn"]}  # no requirement inference: seconds per model
TREES = {"skops_trusted_types": ["sklearn.tree._tree.Tree"]}  # MLflow's skops format asks for them by name


def _save(model: Any, path: Path, example: pd.DataFrame, **options: Any) -> Path:
    kiln_sklearn.save_model(model, path, example, **QUICK, **options)
    return path


def _cases(tmp: Path) -> dict[str, tuple[Path, pd.DataFrame]]:
    """The models of examples/ (and the benches'), saved the way those jobs save them."""
    wine = load_wine(as_frame=True)
    diabetes = load_diabetes(as_frame=True)
    cases = {
        # bench/serving, tests/integration/serving: LogisticRegression on the iris frame
        "logistic_regression": (
            _save(LogisticRegression(max_iter=500).fit(IRIS_X, IRIS_Y), tmp / "lr", IRIS_X),
            IRIS_X,
        ),
        # examples/sklearn-iris: scaler + logistic regression
        "iris_pipeline": (
            _save(
                make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(IRIS_X, IRIS_Y), tmp / "p", IRIS_X
            ),
            IRIS_X,
        ),
        # examples/sklearn-regression: scaler + ridge (float answers)
        "ridge_regression": (
            _save(
                make_pipeline(StandardScaler(), Ridge()).fit(diabetes.data, diabetes.target), tmp / "r", diabetes.data
            ),
            diabetes.data,
        ),
        # examples/sklearn-clustering: scaler + k-means
        "kmeans": (
            _save(
                make_pipeline(StandardScaler(), KMeans(3, n_init=2, random_state=0)).fit(wine.data),
                tmp / "k",
                wine.data,
            ),
            wine.data,
        ),
        "random_forest_proba": (
            _save(
                RandomForestClassifier(n_estimators=5, random_state=0).fit(IRIS_X, IRIS_Y),
                tmp / "rf",
                IRIS_X,
                pyfunc_predict_fn="predict_proba",
                **TREES,
            ),
            IRIS_X,
        ),  # fmt: skip
    }
    # examples/data-assets: mlflow.sklearn.save_model with an input example only (signature inferred from it)
    mlflow.sklearn.save_model(
        LogisticRegression(max_iter=500).fit(IRIS_X, IRIS_Y), str(tmp / "da"), input_example=IRIS_X.head(2), **QUICK
    )
    cases["input_example_only"] = (tmp / "da", IRIS_X)
    # integer ("long") columns
    counts = pd.DataFrame(np.random.default_rng(0).integers(0, 50, size=(120, 3)), columns=["a", "b", "c"])
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(counts, counts["a"] * 0.5 + counts["c"])
    cases["long_columns"] = (_save(tree, tmp / "long", counts, **TREES), counts)
    return cases


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, pd.DataFrame]]:
    return _cases(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize(
    "kind",
    ["logistic_regression", "iris_pipeline", "ridge_regression", "kmeans", "random_forest_proba",
     "input_example_only", "long_columns"],
)  # fmt: skip
def test_array_path_answers_as_mlflow(cases: dict[str, tuple[Path, pd.DataFrame]], kind: str) -> None:
    path, frame = cases[kind]
    scorer = _loaded(path)
    assert scorer.array_path is not None, f"{kind} should take the array path"
    answered = [_assert_same_outcome(scorer, _score_body(scorer, body)) for body in _requests(frame)]
    assert sum(answered) >= 4  # all but integers in double columns (MLflow refuses those: so do both paths)
    # and against MLflow's own loaded model called the way `mlflow models serve` calls it
    reference = mlflow.pyfunc.load_model(str(path)).predict(frame.iloc[:7])
    fast = scorer.predict(ModelInput({c: frame[c].iloc[:7].tolist() for c in frame.columns}, 7))
    assert np.asarray(reference).tobytes() == fast.outputs[next(iter(fast.outputs))].tobytes()


def test_invocations_bodies_answer_the_same(cases: dict[str, tuple[Path, pd.DataFrame]]) -> None:
    """MLflow's own request shapes (dataframe_split, dataframe_records, inputs) through /invocations."""
    path, frame = cases["iris_pipeline"]
    scorer = _loaded(path)
    assert scorer.signature is not None
    rows = frame.iloc[10:30]
    bodies = [
        {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}},
        {"dataframe_records": rows.to_dict(orient="records")},
        {"inputs": {c: rows[c].tolist() for c in rows.columns}},
    ]
    for body in bodies:
        item = mlflow_invocations.parse_invocations_request(
            json.dumps(body).encode(), "application/json", scorer.signature
        )
        assert _assert_same_outcome(scorer, scorer.signature.check(item))


def test_binary_tensors_cast_only_without_loss(cases: dict[str, tuple[Path, pd.DataFrame]]) -> None:
    """V2 binary inputs arrive as arrays: float32 or int arrays into double columns give the same
    answers; an array that would not cast safely takes MLflow's path (which decides)."""
    path, frame = cases["logistic_regression"]
    scorer = _loaded(path)
    assert scorer.array_path is not None and scorer.signature is not None
    rows = frame.iloc[:16]
    for dtype in (np.float32, np.int32, np.float64):
        item = scorer.signature.check(ModelInput({c: rows[c].to_numpy().astype(dtype) for c in rows.columns}, 16))
        assert scorer.array_path.accepts(item) == (dtype != np.int32)  # MLflow refuses ints for doubles
        _assert_same_outcome(scorer, item)
    complex_item = ModelInput({c: rows[c].to_numpy().astype(np.complex128) for c in rows.columns}, 16)
    assert not scorer.array_path.accepts(complex_item)
    assert not scorer.array_path.accepts(ModelInput(complex_item.columns, 16, params={"x": 1}))


class _Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return model_input.sum(axis=1) * 2


def test_models_that_need_mlflow_keep_its_path(tmp_path: Path) -> None:
    # a column transformer selects columns by name: it needs the frame
    by_name = ColumnTransformer([("scale", StandardScaler(), ["sepal length (cm)", "petal width (cm)"])])
    pipeline = make_pipeline(by_name, LogisticRegression(max_iter=500)).fit(IRIS_X, IRIS_Y)
    custom = tmp_path / "custom"
    mlflow.pyfunc.save_model(str(custom), python_model=_Doubler(), input_example=IRIS_X.head(3), **QUICK)
    tensor = tmp_path / "tensor"
    array_model = LogisticRegression(max_iter=500).fit(IRIS_X.to_numpy(), IRIS_Y)
    mlflow.sklearn.save_model(array_model, str(tensor), signature=infer_signature(IRIS_X.to_numpy()), **QUICK)
    for path in (_save(pipeline, tmp_path / "ct", IRIS_X), custom, tensor):
        scorer = _loaded(path)
        assert scorer.array_path is None, path.name
    scorer = _loaded(custom)
    assert scorer.signature is not None
    item = scorer.signature.check(ModelInput({c: IRIS_X[c].iloc[:3].tolist() for c in IRIS_X.columns}, 3))
    expected = (IRIS_X.iloc[:3].sum(axis=1) * 2).to_numpy()
    assert scorer.predict(item).outputs["predict"].tolist() == expected.tolist()
