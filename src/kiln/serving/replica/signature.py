"""Checking inputs against an MLflow model signature, before they reach a batch.

A mismatch is the caller's mistake, so it is a 400 whose message names the column and the
type the model expects. The check is plain Python over the request's own values (a
single-row request costs microseconds); numpy arrays, as the V2 binary path gives them, are
checked by dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiln.errors import InvalidInput
from kiln.serving.replica.payloads import Column, ModelInput

SINGLE_INPUT = "input-0"  # the name of an unnamed input tensor


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of a column-based signature; ``type`` is MLflow's DataType name
    (double, float, long, integer, boolean, string, binary, datetime) or ``any``."""

    name: str
    type: str
    required: bool = True

    def describe(self) -> str:
        return f"'{self.name}' ({self.type}{'' if self.required else ', optional'})"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]

    def describe(self) -> str:
        return f"'{self.name}' ({self.dtype.name}, shape {list(self.shape)})"


def _is_number(value: object) -> bool:
    kind = type(value)
    return kind is float or kind is int or isinstance(value, np.floating | np.integer)


def _is_integer(value: object) -> bool:
    return type(value) is int or isinstance(value, np.integer)


def _is_bool(value: object) -> bool:
    return type(value) is bool or isinstance(value, np.bool_)


def _is_text(value: object) -> bool:
    return type(value) is str


def _is_bytes_or_text(value: object) -> bool:
    return type(value) in (str, bytes)


_ACCEPTS: dict[str, tuple[Callable[[object], bool], str]] = {
    # MLflow type: (value test, numpy dtype kinds accepted)
    "double": (_is_number, "fiu"),
    "float": (_is_number, "fiu"),
    "long": (_is_integer, "iu"),
    "integer": (_is_integer, "iu"),
    "boolean": (_is_bool, "b"),
    "string": (_is_text, "U"),
    "binary": (_is_bytes_or_text, "SU"),
    "datetime": (_is_text, "UM"),
}


# the Python types a JSON decoder gives that each MLflow type accepts as they are (bool is not an int here)
_PLAIN_TYPES: dict[str, frozenset[type]] = {
    "double": frozenset({float, int}),
    "float": frozenset({float, int}),
    "long": frozenset({int}),
    "integer": frozenset({int}),
    "boolean": frozenset({bool}),
    "string": frozenset({str}),
    "binary": frozenset({str, bytes}),
    "datetime": frozenset({str}),
}


def json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | np.integer):
        return "integer"
    if isinstance(value, float | np.floating):
        return "number"
    if isinstance(value, str):
        return f'string "{value[:40]}"'
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class InputSignature:
    """A model's input schema: named ``columns`` (a table) or ``tensors``."""

    def __init__(self, columns: tuple[ColumnSpec, ...] = (), tensors: tuple[TensorSpec, ...] = ()) -> None:
        self.columns = columns
        self.tensors = tensors
        self._by_name = {spec.name: spec for spec in columns}
        self._tensors_by_name = {spec.name: spec for spec in tensors}

    @classmethod
    def from_mlflow(cls, schema: Any) -> InputSignature | None:
        """From ``mlflow.types.Schema``; None when the model was saved without one."""
        if schema is None:
            return None
        if schema.is_tensor_spec():
            specs = schema.inputs
            names = [spec.name or (SINGLE_INPUT if len(specs) == 1 else f"input-{i}") for i, spec in enumerate(specs)]
            return cls(
                tensors=tuple(
                    TensorSpec(n, np.dtype(s.type), tuple(s.shape)) for n, s in zip(names, specs, strict=True)
                )
            )
        columns = []
        for index, spec in enumerate(schema.inputs):
            type_name = getattr(spec.type, "name", None)
            columns.append(
                ColumnSpec(spec.name or str(index), type_name if type_name in _ACCEPTS else "any", spec.required)
            )
        return cls(columns=tuple(columns))

    @property
    def is_table(self) -> bool:
        return bool(self.columns)

    @property
    def column_names(self) -> list[str]:
        return [spec.name for spec in self.columns]

    def describe(self) -> str:
        specs = self.columns or self.tensors
        return ", ".join(spec.describe() for spec in specs)

    def check(self, item: ModelInput) -> ModelInput:
        """The input in the signature's column order, or InvalidInput naming what is wrong."""
        if self.tensors:
            return self._check_tensors(item)
        if item.tensors:
            raise InvalidInput(f"this model takes a table with the columns {self.describe()}")
        given = item.columns
        for name in given:
            if name not in self._by_name:
                raise InvalidInput(f"unknown column '{name}'; the model expects the columns {self.describe()}")
        ordered: dict[str, Column] = {}
        for spec in self.columns:
            values = given.get(spec.name)
            if values is None:
                if spec.required:
                    raise InvalidInput(
                        f"missing column {spec.describe()}; the model expects the columns {self.describe()}"
                    )
                continue
            ordered[spec.name] = _checked_column(spec, values)
        return ModelInput(ordered, item.rows, item.params, False)

    def _check_tensors(self, item: ModelInput) -> ModelInput:
        given = item.columns
        if len(self.tensors) == 1 and len(given) == 1:
            spec = self.tensors[0]
            (values,) = given.values()
            return ModelInput({spec.name: _checked_tensor(spec, values)}, item.rows, item.params, True)
        for name in given:
            if name not in self._tensors_by_name:
                raise InvalidInput(f"unknown input '{name}'; the model expects the tensors {self.describe()}")
        checked: dict[str, Column] = {}
        for spec in self.tensors:
            if spec.name not in given:
                raise InvalidInput(f"missing input {spec.describe()}; the model expects the tensors {self.describe()}")
            checked[spec.name] = _checked_tensor(spec, given[spec.name])
        return ModelInput(checked, item.rows, item.params, True)


def _checked_column(spec: ColumnSpec, values: Column) -> Column:
    accepts = _ACCEPTS.get(spec.type)
    if accepts is None:
        return values
    test, kinds = accepts
    if isinstance(values, np.ndarray) and values.dtype.kind != "O":
        if values.dtype.kind not in kinds:
            raise InvalidInput(f"column '{spec.name}' expects {spec.type}, got values of type {values.dtype.name}")
        return values
    if isinstance(values, np.ndarray):
        values = [v.decode() if isinstance(v, bytes) and spec.type == "string" else v for v in values.tolist()]
    elif set(map(type, values)) <= _PLAIN_TYPES.get(spec.type, frozenset()):
        return values  # JSON's own types, told apart in C: the per-value test below only names a bad one
    for row, value in enumerate(values):
        if not test(value):
            if value is None and not spec.required:
                continue
            raise InvalidInput(f"column '{spec.name}' expects {spec.type}, got {json_type_name(value)} in row {row}")
    return values


def _checked_tensor(spec: TensorSpec, values: Column) -> np.ndarray:
    try:
        array = values if isinstance(values, np.ndarray) else np.asarray(values)
    except ValueError as exc:
        raise InvalidInput(f"input '{spec.name}' is not a rectangular array: {exc}") from exc
    if array.dtype.kind == "O" and spec.dtype.kind != "O":
        raise InvalidInput(f"input '{spec.name}' expects {spec.dtype.name} values; got mixed or non-numeric values")
    if not np.can_cast(array.dtype, spec.dtype, casting="same_kind") and not (
        array.dtype.kind in "iub" and spec.dtype.kind == "f"
    ):
        raise InvalidInput(f"input '{spec.name}' expects {spec.dtype.name}, got {array.dtype.name}")
    if len(array.shape) != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape[1:], array.shape[1:], strict=True)
    ):
        raise InvalidInput(f"input '{spec.name}' expects shape {list(spec.shape)}, got {list(array.shape)}")
    return array.astype(spec.dtype, copy=False)
