"""MLflow's ``/invocations``: JSON with one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs`` (and optional ``params``), or CSV with a header row; the answer
is ``{"predictions": ...}`` and errors are MLflow's ``{"error_code", "message"}``."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from kiln.errors import InvalidInput, KilnError, UnsupportedMediaType
from kiln.serving.replica.payloads import Column, ModelInput, Prediction, dumps
from kiln.serving.replica.protocols.frames import columns_input, parse_json, records_input, rows_input, split_input
from kiln.serving.replica.signature import InputSignature

BODY_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    408: "DEADLINE_EXCEEDED",
    415: "BAD_REQUEST",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}


def media_type(content_type: str | None) -> str:
    return (content_type or "application/json").split(";", 1)[0].strip().lower()


def parse_invocations_request(body: bytes, content_type: str | None, signature: InputSignature | None) -> ModelInput:
    kind = media_type(content_type)
    if kind == "text/csv":
        return parse_csv(body, signature)
    if kind != "application/json":
        raise UnsupportedMediaType(f"Content-Type '{kind}' is not supported; send application/json or text/csv")
    document = parse_json(body)
    keys = [key for key in BODY_KEYS if isinstance(document, dict) and key in document]
    if len(keys) != 1:
        raise InvalidInput(
            f"the body must be a JSON object with exactly one of {', '.join(repr(k) for k in BODY_KEYS)}"
            + (f"; it has {', '.join(keys)}" if keys else "")
        )
    key = keys[0]
    data = document[key]
    if key == "dataframe_split":
        if not isinstance(data, dict):
            raise InvalidInput("'dataframe_split' must be an object with 'columns' and 'data'")
        item = split_input(data, signature, key)
    elif key == "dataframe_records":
        item = records_input(data, signature, key)
    elif isinstance(data, dict) and key == "inputs":
        item = columns_input(data, signature, key)
    else:
        item = rows_input(data, signature, key)
    params = document.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidInput("'params' must be an object")
    item.params = params or None
    return item


def parse_csv(body: bytes, signature: InputSignature | None) -> ModelInput:
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the CSV body is not UTF-8: {exc}") from exc
    try:
        table = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InvalidInput(f"the CSV body cannot be read: {exc}") from exc
    if not table or not table[0]:
        raise InvalidInput("the CSV body is empty; send a header row with the column names, then one line per row")
    header, rows = table[0], [row for row in table[1:] if row]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise InvalidInput(f"CSV line {number} has {len(row)} values; the header names {len(header)} columns")
    types = {spec.name: spec.type for spec in signature.columns} if signature is not None else {}
    columns: dict[str, Column] = {}
    for index, name in enumerate(header):
        convert = _CSV_CONVERTERS.get(types.get(name, ""), _guess)
        values = []
        for number, row in enumerate(rows, start=2):
            try:
                values.append(convert(row[index]))
            except ValueError:
                raise InvalidInput(
                    f"column '{name}' expects {types.get(name)}, got \"{row[index][:40]}\" on CSV line {number}"
                ) from None
        columns[name] = values
    return ModelInput(columns, len(rows))


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda text: None if text == "" else convert(text)


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(text)


def _guess(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


_CSV_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "double": _optional(float),
    "float": _optional(float),
    "long": _optional(int),
    "integer": _optional(int),
    "boolean": _optional(_boolean),
    "string": str,
    "binary": str,
    "datetime": str,
}


def encode_invocations_response(prediction: Prediction) -> bytes:
    return dumps({"predictions": prediction.to_json_value()})


def error_body(error: KilnError) -> bytes:
    return dumps({"error_code": _ERROR_CODES.get(error.http_status, "INTERNAL_ERROR"), "message": error.message})
