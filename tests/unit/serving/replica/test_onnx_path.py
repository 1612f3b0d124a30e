"""The ONNX Runtime path (kiln's own InferenceSession on the request's arrays) answers exactly as
MLflow's pyfunc for the onnx flavor does (DataFrame or tensors, its enforcement, its session):
same values bit for bit, same dtypes, the same error where pyfunc refuses; graphs it cannot feed
keep MLflow's path; and ``runtime: onnx`` converts at load, or refuses with the parity report."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import mlflow.onnx
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.errors import InvalidInput, KilnError, ModelLoadFailed
from kiln.serving.replica.payloads import ModelInput, Prediction
from kiln.serving.replica.protocols import azure, mlflow_invocations, v2
from kiln.serving.replica.scorers import MlflowModelScorer, scorer_for
from kiln.specs.endpoint import OnlineDeploymentSpec
from kiln.specs.replica import OnnxRuntimeSettings, ReplicaConfig

skl2onnx = pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

IRIS = load_iris(as_frame=True)
IRIS_X = IRIS.data.set_axis(["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1)
IRIS_Y = IRIS.target
QUICK = {"pip_requirements": ["onnxruntime"]}  # no requirement inference


def _onnx(model: Any, width: int, zipmap: bool | None = None) -> Any:
    options = {id(model): {"zipmap": zipmap}} if zipmap is not None else None
    return skl2onnx.to_onnx(model, np.zeros((1, width), np.float32), options=options, target_opset=17)


def _classifier() -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(IRIS_X.to_numpy(), IRIS_Y)


def _cases(tmp: Path) -> dict[str, Path]:
    diabetes = load_diabetes(as_frame=True)
    ridge = make_pipeline(StandardScaler(), Ridge()).fit(diabetes.data.to_numpy(), diabetes.target)
    cases = {
        # what skl2onnx gives by default: labels and per-class dicts; a table signature and example
        "zipmap_table": (_onnx(_classifier(), 4), IRIS_X.head(3), True),
        # labels and a probability matrix: tensors in, tensors out (no signature, an array example)
        "tensor_no_signature": (_onnx(_classifier(), 4, zipmap=False), IRIS_X.to_numpy(np.float32)[:3], False),
        # the same with a tensor signature
        "tensor_signature": (_onnx(_classifier(), 4, zipmap=False), IRIS_X.to_numpy(np.float32)[:3], True),
        # a regression pipeline: one output, a table signature
        "ridge_table": (_onnx(ridge, diabetes.data.shape[1]), diabetes.data.head(3), True),
    }
    paths = {}
    for name, (graph, example, with_signature) in cases.items():
        path = tmp / name
        signature = infer_signature(example) if with_signature else None
        mlflow.onnx.save_model(graph, str(path), input_example=example, signature=signature, **QUICK)
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _cases(tmp_path_factory.mktemp("onnx"))


def _loaded(path: Path, settings: OnnxRuntimeSettings | None = None) -> MlflowModelScorer:
    scorer = MlflowModelScorer(path, settings)
    scorer.load()
    return scorer


def _outcome(predict: Any, item: ModelInput) -> tuple[str, Any, Any]:
    try:
        prediction = predict(item)
    except KilnError as exc:
        return "error", type(exc), exc.message
    return "answer", prediction, azure.encode_score_response(prediction)


def _on_mlflow_path(scorer: MlflowModelScorer, item: ModelInput) -> Prediction:
    fast, scorer.onnx_path = scorer.onnx_path, None
    try:
        return scorer.predict(item)
    finally:
        scorer.onnx_path = fast


def _assert_same_outcome(scorer: MlflowModelScorer, item: ModelInput) -> bool:
    """Both paths on one input: the same answer bit for bit (and the same JSON), or the same error."""
    if scorer.signature is not None:
        try:
            item = scorer.signature.check(item)
        except InvalidInput:
            return False  # the replica refuses it before any path
    fast = _outcome(scorer.predict, item)
    slow = _outcome(lambda checked: _on_mlflow_path(scorer, checked), item)
    if slow[0] == "error" and fast[0] == "answer" and fast[1].kind == "dict" and not item.tensors:
        return False  # outputs pyfunc cannot make a table of: kiln answers them as they are (tested below)
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "error":
        assert fast[1:] == slow[1:]
        return False
    ours, theirs = fast[1], slow[1]
    assert ours.kind == theirs.kind and list(ours.outputs) == list(theirs.outputs)
    for name, array in ours.outputs.items():
        other = theirs.outputs[name]
        assert array.dtype == other.dtype and array.shape == other.shape, name
        if array.dtype == object:
            assert array.tolist() == other.tolist()
        else:
            assert array.tobytes() == other.tobytes()  # bit for bit
    assert fast[2] == slow[2]
    return True


def _bodies(frame: pd.DataFrame) -> list[bytes]:
    """/score bodies: one row, 64 rows, columns named, rows alone, integers."""
    many = frame.sample(64, replace=True, random_state=1)
    columns = list(frame.columns)
    bodies = [
        {"input_data": {"columns": columns, "data": frame.iloc[:1].to_numpy().tolist()}},
        {"input_data": {"columns": columns, "data": many.to_numpy().tolist()}},
        {"input_data": many.to_numpy().tolist()},
        {"input_data": [[int(v) for v in row] for row in many.to_numpy().tolist()]},
    ]
    return [json.dumps(body).encode() for body in bodies]


def _score_items(scorer: MlflowModelScorer, frame: pd.DataFrame) -> list[ModelInput]:
    return [azure.parse_score_request(body, scorer.signature) for body in _bodies(frame)]


@pytest.mark.parametrize("kind", ["zipmap_table", "tensor_no_signature", "tensor_signature", "ridge_table"])
def test_onnx_path_answers_as_mlflow(cases: dict[str, Path], kind: str) -> None:
    scorer = _loaded(cases[kind])
    assert scorer.onnx_path is not None, f"{kind} should take the ONNX Runtime path"
    assert scorer.platform == "onnxruntime_onnx"
    frame = load_diabetes(as_frame=True).data if kind == "ridge_table" else IRIS_X
    answered = [_assert_same_outcome(scorer, item) for item in _score_items(scorer, frame)]
    # a graph with a [N, 3] output: pyfunc cannot make a DataFrame of it (kiln's answer is the next test's)
    assert answered[2] and answered[:2] == [kind.endswith("table")] * 2, answered
    # the fast path really took the rows
    item = _score_items(scorer, frame)[2]
    item = scorer.signature.check(item) if scorer.signature is not None else item
    assert scorer.onnx_path.accepts(item)


def test_v2_and_invocations_answer_the_same(cases: dict[str, Path]) -> None:
    rows = IRIS_X.iloc[10:30]
    tensor = {"inputs": [{"name": "X", "shape": [20, 4], "datatype": "FP32", "data": rows.to_numpy().ravel().tolist()}]}
    split = {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}}
    instances = {"instances": rows.to_numpy().tolist()}
    for kind, invocations_body in (("zipmap_table", split), ("tensor_no_signature", instances)):
        scorer = _loaded(cases[kind])
        v2_item = v2.model_input(v2.parse_infer_request(json.dumps(tensor).encode(), None), scorer.signature)
        invocation = mlflow_invocations.parse_invocations_request(
            json.dumps(invocations_body).encode(), "application/json", scorer.signature
        )
        assert scorer.onnx_path is not None
        assert [scorer.onnx_path.accepts(item) for item in (v2_item, invocation)] == [True, True], kind
        assert [_assert_same_outcome(scorer, item) for item in (v2_item, invocation)] == [True, True], kind


def test_a_table_into_a_probability_matrix_answers_where_mlflow_cannot(cases: dict[str, Path]) -> None:
    """pyfunc cannot make a DataFrame of a [N, 3] output and raises; kiln's path answers the graph's outputs
    as they are (as for tensors): the labels and probabilities the tensor request gets."""
    scorer = _loaded(cases["tensor_no_signature"])
    rows = IRIS_X.iloc[:5]
    table = ModelInput({c: rows[c].tolist() for c in rows.columns}, 5)
    assert scorer.onnx_path is not None and scorer.onnx_path.accepts(table)
    answer = scorer.predict(table)
    tensor = scorer.predict(ModelInput({"X": rows.to_numpy(np.float32)}, 5, tensors=True))
    assert answer.kind == tensor.kind == "dict" and list(answer.outputs) == ["label", "probabilities"]
    for name in answer.outputs:
        assert answer.outputs[name].tobytes() == tensor.outputs[name].tobytes()
    assert answer.outputs["label"].tolist() == _classifier().predict(rows.to_numpy()).tolist()
    with pytest.raises(KilnError, match="same length"):
        _on_mlflow_path(scorer, table)


def test_session_takes_the_deployments_threads(cases: dict[str, Path]) -> None:
    settings = OnnxRuntimeSettings(intra_op_threads=2, inter_op_threads=3)
    scorer = _loaded(cases["ridge_table"], settings)
    assert scorer.onnx_path is not None
    options = scorer.onnx_path._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 3)
    import onnxruntime

    assert options.graph_optimization_level == onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_graphs_it_cannot_feed_keep_mlflows_path(tmp_path: Path) -> None:
    """Two graph inputs: MLflow feeds each column by name; kiln's path stays off and pyfunc answers."""
    from skl2onnx.common.data_types import FloatTensorType

    model = LogisticRegression(max_iter=500).fit(IRIS_X.to_numpy()[:, :2], IRIS_Y)
    graph = skl2onnx.convert_sklearn(
        make_pipeline(model), initial_types=[("X", FloatTensorType([None, 2]))], target_opset=17
    )
    path = tmp_path / "plain"
    mlflow.onnx.save_model(graph, str(path), **QUICK)
    scorer = _loaded(path)
    assert scorer.onnx_path is not None  # one input: on
    # an integer table is not the path's: pyfunc's own error comes back
    assert not scorer.onnx_path.accepts(ModelInput({"a": [1], "b": [2]}, 1))
    assert _assert_same_outcome(scorer, ModelInput({"a": [1], "b": [2]}, 1)) is False
    assert not scorer.onnx_path.accepts(ModelInput({"a": [1.0], "b": [2.0]}, 1, params={"x": 1}))


# --- runtime: onnx ------------------------------------------------------------------------------


class _Report:
    def __init__(self, max_abs_diff: float) -> None:
        self.max_abs_diff = max_abs_diff

    def summary(self) -> str:
        return f"150 rows checked, max |Δ| {self.max_abs_diff:g}, labels agree 100 %"


class _ParityFailed(KilnError):
    http_status = 422

    def __init__(self, report: _Report) -> None:
        super().__init__(f"parity failed: max |Δ| {report.max_abs_diff:g} over the tolerance")
        self.report = report


def _fake_conversion(monkeypatch: pytest.MonkeyPatch, convert: Any) -> list[dict[str, Any]]:
    """``kiln.conversion.convert`` as issue15-split.md declares it (the real one is another branch's)."""
    calls: list[dict[str, Any]] = []

    def convert_to_onnx(source: Path, target: Path, **options: Any) -> Any:
        calls.append({"source": source, "target": target, **options})
        return convert(source, target)

    package = types.ModuleType("kiln.conversion")
    module = types.ModuleType("kiln.conversion.convert")
    module.convert_to_onnx = convert_to_onnx  # type: ignore[attr-defined]
    package.convert = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kiln.conversion", package)
    monkeypatch.setitem(sys.modules, "kiln.conversion.convert", module)
    return calls


def _sklearn_model(tmp_path: Path) -> Path:
    path = tmp_path / "sklearn"
    mlflow.sklearn.save_model(_classifier(), str(path), pip_requirements=["scikit-learn"])
    return path


def _config(model_dir: Path, **fields: Any) -> ReplicaConfig:
    return ReplicaConfig(
        endpoint="e", deployment="d", port=1, secret="s" * 16, model_name="m", model_dir=model_dir, **fields
    )


def test_runtime_onnx_converts_at_load_and_serves_the_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def convert(source: Path, target: Path) -> _Report:
        mlflow.onnx.save_model(_onnx(_classifier(), 4, zipmap=False), str(target), **QUICK)
        return _Report(1e-7)

    calls = _fake_conversion(monkeypatch, convert)
    source = _sklearn_model(tmp_path)
    scorer = scorer_for(_config(source, runtime="onnx", onnx=OnnxRuntimeSettings(parity_tolerance=1e-4)))
    assert isinstance(scorer, MlflowModelScorer)
    scorer.load()
    assert calls == [{"source": source.resolve(), "target": calls[0]["target"], "tolerance": 1e-4}]
    assert scorer.platform == "onnxruntime_onnx" and scorer.onnx_path is not None
    rows = IRIS_X.to_numpy(np.float32)[:8]
    prediction = scorer.predict(ModelInput({"X": rows}, 8, tensors=True))
    assert prediction.outputs["label"].tolist() == _classifier().predict(rows).tolist()


def test_runtime_onnx_refuses_with_the_parity_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def convert(source: Path, target: Path) -> _Report:
        raise _ParityFailed(_Report(0.25))

    _fake_conversion(monkeypatch, convert)
    scorer = scorer_for(_config(_sklearn_model(tmp_path), runtime="onnx"))
    with pytest.raises(ModelLoadFailed) as refused:
        scorer.load()
    message = refused.value.message
    assert "parity failed: max |Δ| 0.25" in message and "150 rows checked" in message
    assert "Traceback" not in message


def test_runtime_onnx_serves_an_onnx_model_as_it_is(cases: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_conversion(monkeypatch, lambda source, target: pytest.fail("an ONNX model needs no conversion"))
    scorer = scorer_for(_config(cases["ridge_table"], runtime="onnx"))
    scorer.load()
    assert calls == [] and isinstance(scorer, MlflowModelScorer) and scorer.onnx_path is not None


def _deployment(**fields: Any) -> OnlineDeploymentSpec:
    return OnlineDeploymentSpec.model_validate(
        {"name": "blue", "endpoint_name": "iris", "model": "kiln:iris@latest", **fields}
    )


def test_deployment_runtime_field() -> None:
    assert _deployment().runtime == "native"
    spec = _deployment(runtime="ONNX", onnx={"intra_op_threads": 2})
    assert spec.runtime == "onnx" and spec.onnx.intra_op_threads == 2 and spec.onnx.inter_op_threads == 1
    with pytest.raises(ValueError, match="'tensorrt' is not a runtime kiln serves with; use one of native: .*onnx: "):
        _deployment(runtime="tensorrt")
    with pytest.raises(ValueError, match="runtime: onnx serves an MLflow model's ONNX graph, with no code"):
        _deployment(runtime="onnx", code_configuration={"code": "src", "scoring_script": "score.py"})
    with pytest.raises(ValueError, match="intra_op_threads"):
        _deployment(onnx={"intra_op_threads": -1})
    with pytest.raises(ValueError, match="Extra inputs"):
        _deployment(onnx={"threads": 4})
