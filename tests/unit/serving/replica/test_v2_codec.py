"""The V2 codec against the binary tensor extension as ``tritonclient`` writes and reads it."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.http import InferResult
from tritonclient.http._utils import _get_inference_request

from kiln.errors import InvalidInput
from kiln.serving.replica.payloads import Prediction
from kiln.serving.replica.protocols import v2
from kiln.serving.replica.signature import ColumnSpec, InputSignature

IRIS = InputSignature(columns=tuple(ColumnSpec(name, "double") for name in ("a", "b", "c", "d")))


def _triton_body(
    inputs: list[triton.InferInput], outputs: list[triton.InferRequestedOutput] | None
) -> tuple[bytes, str | None]:
    body, json_size = _get_inference_request(
        inputs=inputs, request_id="7", outputs=outputs, sequence_id=0, sequence_start=False,
        sequence_end=False, priority=0, timeout=None, custom_parameters=None,
    )  # fmt: skip
    return body if isinstance(body, bytes) else body.encode(), None if json_size is None else str(json_size)


def test_binary_inputs_from_tritonclient_decode_to_the_same_arrays() -> None:
    floats = np.arange(8, dtype=np.float32).reshape(2, 4)
    words = np.array([b"a", b"", "\u00e9".encode()], dtype=object)
    first = triton.InferInput("floats", [2, 4], "FP32")
    first.set_data_from_numpy(floats)
    second = triton.InferInput("words", [3], "BYTES")
    second.set_data_from_numpy(words)
    body, header_length = _triton_body([first, second], None)
    request = v2.parse_infer_request(body, header_length)
    assert request.id == "7" and request.binary_output and request.outputs is None
    np.testing.assert_array_equal(request.inputs[0].array, floats)
    assert request.inputs[1].array.tolist() == [b"a", b"", "\u00e9".encode()]


def test_json_inputs_accept_flat_or_nested_data() -> None:
    for data in ([1, 2, 3, 4, 5, 6, 7, 8], [[1, 2, 3, 4], [5, 6, 7, 8]]):
        body = json.dumps({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "INT64", "data": data}]})
        (tensor,) = v2.parse_infer_request(body.encode(), None).inputs
        assert tensor.array.shape == (2, 4) and tensor.array.dtype == np.int64


def test_responses_decode_with_tritonclient_in_binary_and_json() -> None:
    prediction = Prediction(
        {"label": np.array([0, 2], dtype=np.int64), "name": np.array(["setosa", "virginica"], dtype=object)}, "frame", 2
    )
    for outputs, binary in (
        (None, True),
        ([triton.InferRequestedOutput("label", binary_data=False), triton.InferRequestedOutput("name", binary_data=False)], False),
        ([triton.InferRequestedOutput("label"), triton.InferRequestedOutput("name")], True),
    ):  # fmt: skip
        x = triton.InferInput("x", [2, 4], "FP64")
        x.set_data_from_numpy(np.zeros((2, 4)))
        body, header_length = _triton_body([x], outputs)
        request = v2.parse_infer_request(body, header_length)
        content, headers = v2.encode_infer_response(request, prediction, "iris", "1")
        assert ("inference-header-content-length" in headers) is binary
        length = headers.get("inference-header-content-length")
        result = InferResult.from_response_body(content, header_length=None if length is None else int(length))
        assert result.as_numpy("label").tolist() == [0, 2]
        assert [v if isinstance(v, bytes) else v.encode() for v in result.as_numpy("name").tolist()] == [
            b"setosa",
            b"virginica",
        ]
        assert result.get_response()["id"] == "7"


def test_bytes_elements_round_trip_with_length_prefixes() -> None:
    array = np.array([b"kiln", b"", b"\x00\xff"], dtype=object)
    raw = v2.encode_bytes_elements(array)
    assert raw[:4] == struct.pack("<I", 4)
    assert v2.decode_bytes_elements("x", raw) == [b"kiln", b"", b"\x00\xff"]
    with pytest.raises(InvalidInput, match="runs past its data"):
        v2.decode_bytes_elements("x", raw[:-1])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"inputs": []}, "'inputs': a list of tensors"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP128", "data": [1]}]}, "FP128"),
        ({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP64", "data": [1]}]}, "non-negative"),
        (
            {"inputs": [{"name": "x", "shape": [3], "datatype": "FP64", "data": [1, 2]}]},
            "holds 3 elements, 'data' has 2",
        ),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": ["a"]}]}, "not FP64 values"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [3]}]}, "true or false"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}, "neither 'data' nor"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}], "outputs": [{}]}, "'outputs'"),
    ],
)
def test_malformed_v2_requests_say_what_is_wrong(document: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        v2.parse_infer_request(json.dumps(document).encode(), None)


def test_binary_sizes_must_match_the_shape_and_the_body() -> None:
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 8}}]}
    ).encode()
    with pytest.raises(InvalidInput, match=r"2 FP64 values \(16 bytes\), binary_data_size is 8"):
        v2.parse_infer_request(header + b"\x00" * 8, str(len(header)))
    with pytest.raises(InvalidInput, match="no input claims"):
        ok = header.replace(b'"shape": [2]', b'"shape": [1]')
        v2.parse_infer_request(ok + b"\x00" * 12, str(len(ok)))
    with pytest.raises(InvalidInput, match="Inference-Header-Content-Length is 999"):
        v2.parse_infer_request(header, "999")


def test_tensors_map_to_columns_one_per_column_or_one_matrix() -> None:
    matrix = v2.V2Request(None, [v2.V2Tensor("x", "FP64", [2, 4], np.arange(8.0).reshape(2, 4))], None, False)
    item = v2.model_input(matrix, IRIS)
    assert list(item.columns) == ["a", "b", "c", "d"] and item.rows == 2
    assert list(item.columns["b"]) == [1.0, 5.0]
    columns = v2.V2Request(
        None, [v2.V2Tensor(n, "FP32", [2, 1], np.ones((2, 1), np.float32)) for n in "abcd"], None, False
    )
    assert v2.model_input(columns, IRIS).columns["a"].shape == (2,)  # type: ignore[union-attr]
    narrow = v2.V2Request(None, [v2.V2Tensor("x", "FP64", [2, 3], np.zeros((2, 3)))], None, False)
    with pytest.raises(InvalidInput, match=r"one tensor of shape \[N, 4\]"):
        v2.model_input(narrow, IRIS)
