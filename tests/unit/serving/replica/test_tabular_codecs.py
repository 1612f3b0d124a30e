"""Azure's ``input_data`` and MLflow's ``/invocations`` bodies and CSV, read without pandas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kiln.errors import InvalidInput, ScoringFailed, UnsupportedMediaType
from kiln.serving.replica.payloads import ModelInput, Prediction, dumps, merge_inputs, split_prediction
from kiln.serving.replica.protocols import azure, mlflow_invocations
from kiln.serving.replica.signature import ColumnSpec, InputSignature

SIGNATURE = InputSignature(
    columns=(ColumnSpec("a", "double"), ColumnSpec("b", "long"), ColumnSpec("c", "string", required=False))
)


def _body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_every_azure_shape_gives_the_same_columns() -> None:
    want = {"a": [1.0, 2.5], "b": [1, 2], "c": ["x", "y"]}
    for data in (
        {"columns": ["a", "b", "c"], "index": [0, 1], "data": [[1.0, 1, "x"], [2.5, 2, "y"]]},
        [[1.0, 1, "x"], [2.5, 2, "y"]],
        want,
        [{"a": 1.0, "b": 1, "c": "x"}, {"a": 2.5, "b": 2, "c": "y"}],
    ):
        item = azure.parse_score_request(_body({"input_data": data}), SIGNATURE)
        assert (item.columns, item.rows, item.params) == (want, 2, None)
    with_params = azure.parse_score_request(_body({"input_data": want, "params": {"k": 1}}), SIGNATURE)
    assert with_params.params == {"k": 1} and with_params.batch_key is None


def test_mlflow_bodies_and_csv() -> None:
    records = [{"a": 1.0, "b": 1}]
    for document in (
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 1]]}},
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": {"a": [1.0], "b": [1]}},
    ):
        item = mlflow_invocations.parse_invocations_request(_body(document), "application/json", SIGNATURE)
        assert item.columns == {"a": [1.0], "b": [1]}
    csv = b"a,b,c\n1.5,2,hello\n,3,\n"
    item = mlflow_invocations.parse_invocations_request(csv, "text/csv; charset=utf-8", SIGNATURE)
    assert item.columns == {"a": [1.5, None], "b": [2, 3], "c": ["hello", ""]}
    with pytest.raises(InvalidInput, match="column 'b' expects long, got \"2.5\" on CSV line 2"):
        mlflow_invocations.parse_csv(b"a,b\n1,2.5\n", SIGNATURE)
    with pytest.raises(UnsupportedMediaType):
        mlflow_invocations.parse_invocations_request(b"", "application/xml", SIGNATURE)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"input_data": [[1.0, 1]]}, "must have 3 values"),
        ({"input_data": {"a": [1.0, 2.0], "b": [1]}}, "'b' has 1 values, 'a' has 2"),
        ({"input_data": {"columns": ["a", "a"], "data": []}}, "names a column twice"),
        ({"input_data": {"columns": ["a"], "data": [[1.0, 2]]}}, "row 0 has 2 values"),
        ({"input_data": 5}, "'input_data' must be an object or a list"),
        ({"inputs": []}, "'input_data'"),
    ],
)
def test_azure_shapes_that_do_not_fit_say_why(document: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        azure.parse_score_request(_body(document), SIGNATURE)


def test_signature_checks_name_the_column_and_the_type() -> None:
    def check(columns: dict[str, list[object]]) -> ModelInput:
        rows = len(next(iter(columns.values())))
        return SIGNATURE.check(ModelInput(columns, rows))  # type: ignore[arg-type]

    assert list(check({"b": [1], "a": [1]}).columns) == ["a", "b"]  # signature order; ints are doubles
    with pytest.raises(InvalidInput, match=r"column 'b' expects long, got number in row 1"):
        check({"a": [1.0, 2.0], "b": [1, 2.5]})
    with pytest.raises(InvalidInput, match=r"column 'a' expects double, got boolean in row 0"):
        check({"a": [True], "b": [1]})
    with pytest.raises(InvalidInput, match=r"missing column 'b' \(long\)"):
        check({"a": [1.0]})
    with pytest.raises(InvalidInput, match="unknown column 'z'"):
        check({"a": [1.0], "b": [1], "z": [0]})
    with pytest.raises(InvalidInput, match="column 'a' expects double, got null"):
        check({"a": [None], "b": [1]})
    assert check({"a": [1.0], "b": [1], "c": [None]}).columns["c"] == [None]  # optional column
    with pytest.raises(InvalidInput, match="column 'a' expects double, got values of type bool"):
        SIGNATURE.check(ModelInput({"a": np.array([True]), "b": np.array([1])}, 1))
    decoded = SIGNATURE.check(ModelInput({"a": [1.0], "b": [1], "c": np.array([b"x"], dtype=object)}, 1))
    assert decoded.columns["c"] == ["x"]  # V2 BYTES into a string column


def test_merge_and_split_keep_each_requests_rows() -> None:
    first = ModelInput({"a": [1.0], "b": [1]}, 1)
    second = ModelInput({"a": np.array([2.0, 3.0]), "b": [2, 3]}, 2)
    merged = merge_inputs([first, second])
    assert merged.rows == 3 and list(merged.columns["a"]) == [1.0, 2.0, 3.0] and merged.columns["b"] == [1, 2, 3]
    prediction = Prediction.from_model_output(np.array([10, 20, 30]), 3)
    parts = split_prediction(prediction, [first, second])
    assert [part.outputs["predict"].tolist() for part in parts] == [[10], [20, 30]]
    with pytest.raises(ScoringFailed, match="returned 2 rows"):
        Prediction.from_model_output([1, 2], 3)


def test_predictions_render_as_mlflow_does() -> None:
    import pandas as pd

    frame = Prediction.from_model_output(pd.DataFrame({"label": [0, 1], "p": [0.5, 0.25]}), 2)
    assert json.loads(mlflow_invocations.encode_invocations_response(frame)) == {
        "predictions": [{"label": 0, "p": 0.5}, {"label": 1, "p": 0.25}]
    }
    array = Prediction.from_model_output(np.array([[0.1, 0.9]], dtype=np.float32), 1)
    assert json.loads(azure.encode_score_response(array)) == [[pytest.approx(0.1), pytest.approx(0.9)]]
    assert json.loads(dumps({"x": np.int64(3), "y": np.array(["a"], dtype=object), "z": b"\xff"})) == {
        "x": 3, "y": ["a"], "z": "/w=="
    }  # fmt: skip


def test_tensor_signatures_check_dtype_and_shape() -> None:
    from kiln.serving.replica.protocols.frames import rows_input
    from kiln.serving.replica.signature import TensorSpec

    signature = InputSignature(tensors=(TensorSpec("input-0", np.dtype("float32"), (-1, 4)),))
    item = signature.check(rows_input([[1, 2, 3, 4], [5, 6, 7, 8]], signature, "input_data"))
    assert item.tensors and item.columns["input-0"].dtype == np.float32  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match=r"expects shape \[-1, 4\], got \[1, 3\]"):
        signature.check(rows_input([[1, 2, 3]], signature, "input_data"))
    with pytest.raises(InvalidInput, match="not a rectangular array|non-numeric"):
        signature.check(rows_input([[1, 2, 3, 4], [1, 2]], signature, "input_data"))
    with pytest.raises(InvalidInput, match="this model takes a table"):
        SIGNATURE.check(rows_input([[1, 2]], signature, "input_data"))
