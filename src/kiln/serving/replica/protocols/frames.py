"""The JSON table shapes that Azure's ``input_data`` and MLflow's bodies share, read into a
``ModelInput`` without pandas: split (``columns`` + ``data``), records, columns of values,
and plain lists of rows (matched to the signature's columns by position)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from kiln.errors import InvalidInput
from kiln.serving.replica.payloads import Column, ModelInput
from kiln.serving.replica.signature import SINGLE_INPUT, InputSignature


def parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidInput("the request body is empty; send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from exc


def rows_input(rows: Any, signature: InputSignature | None, field: str) -> ModelInput:
    """A list of rows: lists matched to the columns by position, or records."""
    if not isinstance(rows, list):
        raise InvalidInput(f"'{field}' must be a list of rows, got {type(rows).__name__}")
    if rows and all(isinstance(row, dict) for row in rows):
        return records_input(rows, signature, field)
    if signature is None or not signature.is_table:
        return _tensor_input(rows, signature, field)
    names = signature.column_names
    width = len(names)
    if width == 1 and not any(isinstance(row, list) for row in rows):
        return ModelInput({names[0]: rows}, len(rows))
    return ModelInput(_columns_of(rows, names, field, signature.describe()), len(rows))


def records_input(records: Any, signature: InputSignature | None, field: str) -> ModelInput:
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise InvalidInput(f"'{field}' must be a list of objects, one per row")
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    columns: dict[str, Column] = {name: [record.get(name) for record in records] for name in names}
    if signature is not None and signature.tensors:
        return _named_tensors(columns, len(records), field)
    return ModelInput(columns, len(records))


def columns_input(mapping: dict[str, Any], signature: InputSignature | None, field: str) -> ModelInput:
    """``{"column": [values...]}``; a scalar is a one-row column."""
    if not mapping:
        raise InvalidInput(f"'{field}' has no columns")
    columns: dict[str, Column] = {}
    rows: int | None = None
    for name, values in mapping.items():
        column = values if isinstance(values, list) else [values]
        if rows is not None and len(column) != rows:
            first = next(iter(columns))
            raise InvalidInput(
                f"the columns of '{field}' differ in length: '{name}' has {len(column)} values, '{first}' has {rows}"
            )
        rows = len(column)
        columns[name] = column
    assert rows is not None
    if signature is not None and signature.tensors:
        return _named_tensors(columns, rows, field)
    return ModelInput(columns, rows)


def split_input(split: dict[str, Any], signature: InputSignature | None, field: str) -> ModelInput:
    """pandas' split orientation: ``{"columns": [...], "index": [...], "data": [[...]]}``."""
    data = split.get("data")
    if not isinstance(data, list):
        raise InvalidInput(f"'{field}' must have 'data': a list of rows")
    names = split.get("columns")
    if names is None:
        return rows_input(data, signature, f"{field}.data")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidInput(f"'{field}.columns' must be a list of column names")
    if len(set(names)) != len(names):
        raise InvalidInput(f"'{field}.columns' names a column twice")
    columns = _columns_of(data, names, f"{field}.data", "one per column")
    if signature is not None and signature.tensors:
        return _named_tensors(columns, len(data), field)
    return ModelInput(columns, len(data))


def _tensor_input(rows: list[Any], signature: InputSignature | None, field: str) -> ModelInput:
    name = signature.tensors[0].name if signature is not None and len(signature.tensors) == 1 else SINGLE_INPUT
    return ModelInput({name: _array(rows, field)}, len(rows), None, True)


def _named_tensors(columns: dict[str, Column], rows: int, field: str) -> ModelInput:
    tensors: dict[str, Column] = {name: _array(values, f"{field}.{name}") for name, values in columns.items()}
    return ModelInput(tensors, rows, None, True)


def _array(values: Any, field: str) -> np.ndarray:
    try:
        array = np.asarray(values)
    except ValueError as exc:
        raise InvalidInput(f"'{field}' is not a rectangular array: {exc}") from exc
    if array.ndim == 0:
        raise InvalidInput(f"'{field}' must be a list of rows")
    return array


def _columns_of(rows: list[Any], names: list[str], field: str, expected: str) -> dict[str, Column]:
    """Rows of values in column order, checked for width, as one list per column."""
    width = len(names)
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else "a single value"
            raise InvalidInput(f"each row of '{field}' must have {width} values ({expected}); row {index} has {got}")
    if not rows:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}
