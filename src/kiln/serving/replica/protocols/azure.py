"""Azure ML's ``/score`` for MLflow models: ``{"input_data": ..., "params": {...}}`` where
``input_data`` is pandas' split orientation (``columns``/``index``/``data``), a list of rows,
or named columns; the answer is the list of predictions. A scoring script's ``run(raw_data)``
gets the body unchanged instead."""

from __future__ import annotations

from typing import Any

from kiln.errors import InvalidInput, KilnError
from kiln.serving.replica.payloads import ModelInput, Prediction, dumps
from kiln.serving.replica.protocols.frames import columns_input, parse_json, rows_input, split_input
from kiln.serving.replica.signature import InputSignature


def parse_score_request(body: bytes, signature: InputSignature | None) -> ModelInput:
    document = parse_json(body)
    if not isinstance(document, dict) or "input_data" not in document:
        raise InvalidInput(
            "the body must be a JSON object with 'input_data': "
            '{"columns": [...], "index": [...], "data": [[...]]}, a list of rows, or {"column": [values]}'
        )
    data = document["input_data"]
    if isinstance(data, list):
        item = rows_input(data, signature, "input_data")
    elif isinstance(data, dict) and "data" in data:
        item = split_input(data, signature, "input_data")
    elif isinstance(data, dict):
        item = columns_input(data, signature, "input_data")
    else:
        raise InvalidInput(f"'input_data' must be an object or a list, got {type(data).__name__}")
    item.params = _params(document.get("params"))
    return item


def _params(params: Any) -> dict[str, Any] | None:
    if params is None:
        return None
    if not isinstance(params, dict):
        raise InvalidInput("'params' must be an object")
    return params or None


def encode_score_response(prediction: Prediction) -> bytes:
    return dumps(prediction.to_json_value())


def error_body(error: KilnError) -> bytes:
    return dumps(error.to_json())
