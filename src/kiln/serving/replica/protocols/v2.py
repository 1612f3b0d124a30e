"""The Open Inference Protocol V2 (KServe / Triton), with Triton's binary tensor extension.

Binary extension: a request whose JSON header is followed by raw tensor bytes says so with
the ``Inference-Header-Content-Length`` header; each such input carries
``parameters.binary_data_size``, and its bytes follow in input order (BYTES elements each
with a 4-byte little-endian length prefix). An output is returned binary when its request
entry has ``parameters.binary_data`` or, failing that, when the request has
``parameters.binary_data_output`` (``tritonclient`` sets that when it names no outputs).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np
import orjson

from kiln.errors import InvalidInput
from kiln.serving.replica.payloads import SINGLE_OUTPUT, Column, ModelInput, Prediction, dumps
from kiln.serving.replica.protocols.frames import parse_json
from kiln.serving.replica.signature import InputSignature

HEADER_LENGTH = "inference-header-content-length"
V2_DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(kind)
    for name, kind in {
        "BOOL": "bool",
        "UINT8": "uint8",
        "UINT16": "uint16",
        "UINT32": "uint32",
        "UINT64": "uint64",
        "INT8": "int8",
        "INT16": "int16",
        "INT32": "int32",
        "INT64": "int64",
        "FP16": "float16",
        "FP32": "float32",
        "FP64": "float64",
        "BYTES": "object",
    }.items()
}
_MLFLOW_TYPES_TO_V2 = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}


@dataclass(slots=True)
class V2Tensor:
    name: str
    datatype: str
    shape: list[int]
    array: np.ndarray


@dataclass(slots=True)
class V2Request:
    id: str | None
    inputs: list[V2Tensor]
    outputs: dict[str, bool | None] | None  # requested output -> binary wanted (None: not said)
    binary_output: bool
    parameters: dict[str, Any] = field(default_factory=dict)


def datatype_of(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iuf":
        prefix = {"i": "INT", "u": "UINT", "f": "FP"}[kind]
        return f"{prefix}{array.dtype.itemsize * 8}"
    return "BYTES"


def parse_infer_request(body: bytes, header_length: str | None) -> V2Request:
    binary = b""
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise InvalidInput("the Inference-Header-Content-Length header must be an integer") from None
        if not 0 < size <= len(body):
            raise InvalidInput(f"Inference-Header-Content-Length is {size}, but the body has {len(body)} bytes")
        body, binary = body[:size], body[size:]
    document = parse_json(body)
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list) or not document["inputs"]:
        raise InvalidInput(
            "the body must be a JSON object with 'inputs': a list of tensors (name, shape, datatype, data)"
        )
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be an object")
    offset = 0
    inputs = []
    for index, entry in enumerate(document["inputs"]):
        tensor, offset = _read_tensor(entry, index, binary, offset)
        inputs.append(tensor)
    if offset != len(binary):
        raise InvalidInput(f"the body has {len(binary) - offset} bytes of binary data that no input claims")
    return V2Request(
        id=str(document["id"]) if document.get("id") is not None else None,
        inputs=inputs,
        outputs=_requested_outputs(document.get("outputs")),
        binary_output=bool(parameters.get("binary_data_output", False)),
        parameters=parameters,
    )


def _read_tensor(entry: Any, index: int, binary: bytes, offset: int) -> tuple[V2Tensor, int]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise InvalidInput(f"inputs[{index}] must be an object with 'name', 'shape', 'datatype' and 'data'")
    name = entry["name"]
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidInput(f"input '{name}': 'shape' must be a list of non-negative integers")
    datatype = entry.get("datatype")
    dtype = V2_DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None or not isinstance(datatype, str):
        raise InvalidInput(f"input '{name}': datatype {datatype!r} is not one of {', '.join(V2_DTYPES)}")
    count = prod(shape)
    size = (entry.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise InvalidInput(f"input '{name}': binary_data_size {size} runs past the end of the body")
        chunk = binary[offset : offset + size]
        array = _decode_binary(name, datatype, dtype, chunk, count)
        offset += size
    elif "data" in entry:
        array = _decode_json(name, datatype, dtype, entry["data"], count)
    else:
        raise InvalidInput(f"input '{name}' has neither 'data' nor parameters.binary_data_size")
    return V2Tensor(name, datatype, shape, array.reshape(shape)), offset


def _decode_binary(name: str, datatype: str, dtype: np.dtype[Any], chunk: bytes, count: int) -> np.ndarray:
    if datatype == "BYTES":
        elements = decode_bytes_elements(name, chunk)
        if len(elements) != count:
            raise InvalidInput(f"input '{name}': the shape holds {count} elements, the binary data has {len(elements)}")
        array = np.empty(count, dtype=object)
        array[:] = elements
        return array
    if len(chunk) != count * dtype.itemsize:
        raise InvalidInput(
            f"input '{name}': the shape holds {count} {datatype} values ({count * dtype.itemsize} bytes), "
            f"binary_data_size is {len(chunk)}"
        )
    return np.frombuffer(chunk, dtype=dtype.newbyteorder("<"))


def decode_bytes_elements(name: str, chunk: bytes) -> list[bytes]:
    elements = []
    offset = 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise InvalidInput(f"input '{name}': a BYTES element's 4-byte length prefix is cut short")
        (length,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        if offset + length > len(chunk):
            raise InvalidInput(f"input '{name}': a BYTES element of {length} bytes runs past its data")
        elements.append(chunk[offset : offset + length])
        offset += length
    return elements


def encode_bytes_elements(array: np.ndarray) -> bytes:
    parts = []
    for element in array.ravel().tolist():
        raw = element if isinstance(element, bytes) else str(element).encode()
        parts.append(struct.pack("<I", len(raw)))
        parts.append(raw)
    return b"".join(parts)


def _decode_json(name: str, datatype: str, dtype: np.dtype[Any], data: Any, count: int) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    try:
        if datatype == "BYTES":
            flat = np.asarray(data, dtype=object).ravel()
            if not all(isinstance(v, str) for v in flat):
                raise ValueError("BYTES data must be strings")
            array = flat
        else:
            array = np.asarray(data, dtype=dtype).ravel()
            if datatype == "BOOL" and not all(isinstance(v, bool) for v in np.asarray(data, dtype=object).ravel()):
                raise ValueError("BOOL data must be true or false")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"input '{name}': the data are not {datatype} values: {exc}") from exc
    if array.size != count:
        raise InvalidInput(f"input '{name}': the shape holds {count} elements, 'data' has {array.size}")
    return array


def _requested_outputs(outputs: Any) -> dict[str, bool | None] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidInput("'outputs' must be a list of objects with a 'name'")
    requested: dict[str, bool | None] = {}
    for output in outputs:
        binary = (output.get("parameters") or {}).get("binary_data")
        requested[output["name"]] = None if binary is None else bool(binary)
    return requested


def model_input(request: V2Request, signature: InputSignature | None) -> ModelInput:
    """The request's tensors as the model's input: one tensor per column (shape [N] or
    [N, 1]) or one [N, columns] tensor for a table; named tensors otherwise."""
    rows = {tensor.array.shape[0] if tensor.array.ndim else 1 for tensor in request.inputs}
    if len(rows) != 1:
        raise InvalidInput("all inputs must have the same number of rows (the first dimension of 'shape')")
    (count,) = rows
    if signature is None or not signature.is_table:
        tensors: dict[str, Column] = {tensor.name: tensor.array for tensor in request.inputs}
        return ModelInput(tensors, count, request.parameters.get("params"), True)
    names = signature.column_names
    if len(request.inputs) == 1 and request.inputs[0].name not in names:
        array = request.inputs[0].array
        if array.ndim != 2 or array.shape[1] != len(names):
            raise InvalidInput(
                f"input '{request.inputs[0].name}' is not a column; send one input per column "
                f"({signature.describe()}) or one tensor of shape [N, {len(names)}]"
            )
        return ModelInput({name: array[:, i] for i, name in enumerate(names)}, count)
    columns: dict[str, Column] = {}
    for tensor in request.inputs:
        array = tensor.array
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise InvalidInput(
                f"input '{tensor.name}' is a column: its shape must be [N] or [N, 1], got {tensor.shape}"
            )
        columns[tensor.name] = array
    return ModelInput(columns, count)


def script_body(request: V2Request) -> bytes:
    """What a scoring script's ``run(raw_data)`` gets for a V2 request: Azure's shape,
    ``{"input_data": rows}`` for one input, ``{"input_data": {name: rows}}`` for several."""

    def values(array: np.ndarray) -> Any:
        if array.dtype.kind == "O":
            return np.vectorize(lambda v: v.decode(errors="replace") if isinstance(v, bytes) else v, otypes=[object])(
                array
            ).tolist()
        return array.tolist()

    if len(request.inputs) == 1:
        data: Any = values(request.inputs[0].array)
    else:
        data = {tensor.name: values(tensor.array) for tensor in request.inputs}
    document: dict[str, Any] = {"input_data": data}
    if request.parameters.get("params"):
        document["params"] = request.parameters["params"]
    return dumps(document)


def encode_infer_response(
    request: V2Request, prediction: Prediction, model_name: str, model_version: str
) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers (``Inference-Header-Content-Length`` when any
    output is binary)."""
    available = prediction.outputs
    names = list(available) if request.outputs is None else list(request.outputs)
    for name in names:
        if name not in available:
            raise InvalidInput(f"unknown output '{name}'; the model's outputs are {', '.join(available)}")
    entries: list[dict[str, Any]] = []
    buffers: list[bytes] = []
    for name in names:
        array = available[name]
        datatype = datatype_of(array)
        wanted = request.outputs.get(name) if request.outputs is not None else None
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if wanted if wanted is not None else request.binary_output:
            raw = encode_bytes_elements(array) if datatype == "BYTES" else np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            buffers.append(raw)
        else:
            entry["data"] = _json_data(array, datatype)
        entries.append(entry)
    header: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": entries}
    if request.id is not None:
        header["id"] = request.id
    document = dumps(header)
    if not buffers:
        return document, {"content-type": "application/json"}
    return document + b"".join(buffers), {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(document)),
    }


def _json_data(array: np.ndarray, datatype: str) -> Any:
    flat = array.ravel()
    if datatype == "BYTES":
        return [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in flat.tolist()]
    return flat


def model_metadata(
    name: str, version: str, platform: str, signature: InputSignature | None, outputs: list[dict[str, Any]]
) -> bytes:
    inputs: list[dict[str, Any]] = []
    if signature is not None and signature.is_table:
        inputs = [
            {"name": spec.name, "datatype": _MLFLOW_TYPES_TO_V2.get(spec.type, "BYTES"), "shape": [-1]}
            for spec in signature.columns
        ]
    elif signature is not None:
        inputs = [
            {"name": spec.name, "datatype": datatype_of(np.empty(0, spec.dtype)), "shape": list(spec.shape)}
            for spec in signature.tensors
        ]
    return dumps({"name": name, "versions": [version], "platform": platform, "inputs": inputs, "outputs": outputs})


def output_metadata(output_schema: Any) -> list[dict[str, Any]]:
    """The outputs an MLflow output schema declares, as V2 metadata (empty when none)."""
    if output_schema is None:
        return []
    if output_schema.is_tensor_spec():
        specs = output_schema.inputs
        return [
            {
                "name": spec.name or (SINGLE_OUTPUT if len(specs) == 1 else f"output-{i}"),
                "datatype": datatype_of(np.empty(0, spec.type)),
                "shape": list(spec.shape),
            }
            for i, spec in enumerate(specs)
        ]
    specs = output_schema.inputs
    if len(specs) == 1 and not specs[0].name:
        type_name = getattr(specs[0].type, "name", "")
        return [{"name": SINGLE_OUTPUT, "datatype": _MLFLOW_TYPES_TO_V2.get(type_name, "BYTES"), "shape": [-1]}]
    return [
        {"name": spec.name, "datatype": _MLFLOW_TYPES_TO_V2.get(getattr(spec.type, "name", ""), "BYTES"), "shape": [-1]}
        for spec in specs
    ]


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})
