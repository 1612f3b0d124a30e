"""What flows between the protocols, the batcher and the model: rows in, predictions out.

A request becomes a ``ModelInput`` (named columns of equal length, or named tensors whose
first axis is the row); concurrent inputs are merged into one, predicted once, and the
``Prediction`` is sliced back per request. Plain lists stay lists until the batch is built,
so a single-row request never touches pandas on the event loop.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson

from kiln.errors import ScoringFailed

Column = list[Any] | np.ndarray
PredictionKind = Literal["array", "frame", "dict"]
SINGLE_OUTPUT = "predict"  # the name of an unnamed prediction, in V2 outputs and metadata


@dataclass(slots=True)
class ModelInput:
    """``columns`` maps a column (or tensor) name to its values, ``rows`` long. ``tensors``
    says the model takes named tensors (a tensor signature) rather than a table."""

    columns: dict[str, Column]
    rows: int
    params: dict[str, Any] | None = None
    tensors: bool = False

    @property
    def batch_key(self) -> tuple[object, ...] | None:
        """Inputs with equal keys can share one predict call; None: this one predicts alone."""
        if self.params:
            return None
        return (self.tensors, *self.columns)


def merge_inputs(inputs: Sequence[ModelInput]) -> ModelInput:
    if len(inputs) == 1:
        return inputs[0]
    first = inputs[0]
    merged: dict[str, Column] = {}
    for name in first.columns:
        parts = [item.columns[name] for item in inputs]
        if all(isinstance(part, list) for part in parts):
            column: list[Any] = []
            for part in parts:
                column.extend(part)
            merged[name] = column
        else:
            merged[name] = np.concatenate([np.asarray(part) for part in parts])
    return ModelInput(merged, sum(item.rows for item in inputs), None, first.tensors)


@dataclass(slots=True)
class Prediction:
    """A model's output as named arrays whose first axis is the row. ``kind`` remembers the
    shape it came in, for JSON: an array (a list), a DataFrame (records) or a dict."""

    outputs: dict[str, np.ndarray]
    kind: PredictionKind
    rows: int

    @classmethod
    def from_model_output(cls, value: Any, rows: int) -> Prediction:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            outputs = {str(name): value[name].to_numpy() for name in value.columns}
            return cls._checked(outputs, "frame", rows)
        if isinstance(value, dict):
            return cls._checked({str(k): np.asarray(v) for k, v in value.items()}, "dict", rows)
        if isinstance(value, pd.Series):
            value = value.to_numpy()
        array = np.asarray(value)
        if array.ndim == 0:
            array = array.reshape(1)
        return cls._checked({SINGLE_OUTPUT: array}, "array", rows)

    @classmethod
    def from_script_output(cls, value: Any) -> Prediction:
        """A scoring script's ``run()`` result as tensors: a dict is one output per key,
        anything else one output; no row count to keep, nothing is split."""
        if isinstance(value, dict):
            outputs = {str(k): np.atleast_1d(np.asarray(v)) for k, v in value.items()}
            kind: PredictionKind = "dict"
        else:
            outputs = {SINGLE_OUTPUT: np.atleast_1d(np.asarray(value))}
            kind = "array"
        rows = len(next(iter(outputs.values()))) if outputs else 0
        return cls(outputs, kind, rows)

    @classmethod
    def _checked(cls, outputs: dict[str, np.ndarray], kind: PredictionKind, rows: int) -> Prediction:
        for name, array in outputs.items():
            if array.ndim == 0 or len(array) != rows:
                length = "a scalar" if array.ndim == 0 else f"{len(array)} rows"
                raise ScoringFailed(f"the model returned {length} in '{name}' for {rows} input rows")
        return cls(outputs, kind, rows)

    def slice(self, start: int, stop: int) -> Prediction:
        if start == 0 and stop == self.rows:
            return self
        return Prediction({name: array[start:stop] for name, array in self.outputs.items()}, self.kind, stop - start)

    def to_json_value(self) -> Any:
        """What MLflow's and Azure's servers answer: a list, records, or a dict of lists."""
        if self.kind == "array":
            return self.outputs[SINGLE_OUTPUT]
        if self.kind == "dict":
            return self.outputs
        names = list(self.outputs)
        columns = [array.tolist() for array in self.outputs.values()]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def split_prediction(prediction: Prediction, inputs: Sequence[ModelInput]) -> list[Prediction]:
    parts: list[Prediction] = []
    start = 0
    for item in inputs:
        parts.append(prediction.slice(start, start + item.rows))
        start += item.rows
    return parts


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return base64.b64encode(value).decode()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """JSON for responses: orjson, with numpy arrays written directly, and keys that are not
    text written as text, as Python's json does (ONNX classifiers' per-class maps: ``{0: 0.98}``)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=_json_default)
    except TypeError as exc:
        raise ScoringFailed(f"the result cannot be written as JSON: {exc}") from exc
