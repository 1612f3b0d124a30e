"""The parity proof: the source and the converted model predict on the same rows (the input example, rows
generated from the signature, a data asset's rows when one is named) and their answers are compared."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.conversion.converters import Converted, Predictions
from kiln.conversion.report import ConversionReport
from kiln.conversion.source import SourceModel, concatenate, generated_rows, rows_of

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime


def parity_rows(
    source: SourceModel, extra_rows: Any = None, generated: int | None = None
) -> tuple[Any, dict[str, int]]:
    """The rows the proof runs on, and how many came from where (example, generated, data)."""
    parts, counts = [], {}
    if source.example is not None and len(source.example):
        parts.append(rows_of(source, source.example))
        counts["example"] = len(parts[-1])
    made = generated_rows(source) if generated is None else generated_rows(source, generated)
    parts.append(made)
    counts["generated"] = len(made)
    if extra_rows is not None and len(extra_rows):
        parts.append(rows_of(source, extra_rows))
        counts["data"] = len(parts[-1])
    return concatenate(parts), counts


def check_parity(
    source: SourceModel, converted: Converted, session: onnxruntime.InferenceSession, rows: Any, tolerance: float
) -> tuple[float, float | None]:
    """max |Δ| over every score of every row, and the share of rows whose label agrees (None: no labels)."""
    import numpy as np

    expected = converted.predict_source(rows)
    outputs = session.run(None, onnx_feed(session, rows))
    found = Predictions(
        labels=None if converted.labels_output is None else outputs[converted.labels_output],
        scores=None if converted.scores_output is None else outputs[converted.scores_output],
    )
    max_abs_diff = 0.0
    if expected.scores is not None and found.scores is not None:
        left = np.asarray(expected.scores, dtype="float64").reshape(len(rows), -1)
        right = np.asarray(found.scores, dtype="float64").reshape(len(rows), -1)
        if left.shape != right.shape:
            return float("inf"), None
        max_abs_diff = float(np.nanmax(np.abs(left - right))) if left.size else 0.0
        if np.isnan(left).any() != np.isnan(right).any():
            max_abs_diff = float("inf")
    agreement = None
    if expected.labels is not None and found.labels is not None:
        agreement = float(np.mean(_same_labels(np.asarray(expected.labels), np.asarray(found.labels))))
    return max_abs_diff, agreement


def report(
    source: SourceModel, converted: Converted, session: onnxruntime.InferenceSession, rows: Any, counts: dict[str, int],
    tolerance: float, opset: int,
) -> ConversionReport:  # fmt: skip
    max_abs_diff, agreement = check_parity(source, converted, session, rows, tolerance)
    return ConversionReport(
        rows_checked=len(rows), max_abs_diff=max_abs_diff, label_agreement=agreement, tolerance=tolerance,
        opset=opset, converters=converted.converters, source_flavor=source.flavor, sources=counts,
    )  # fmt: skip


def onnx_feed(session: onnxruntime.InferenceSession, rows: Any) -> dict[str, np.ndarray]:
    """Rows as the graph's inputs: one tensor of all columns, or one ``[batch, 1]`` tensor per column, in the
    signature's order (skl2onnx makes column names into identifiers: 'petal length (cm)' → 'petal_length__cm_')."""
    import numpy as np
    import pandas as pd

    inputs = session.get_inputs()
    if len(inputs) == 1:
        values = rows.to_numpy() if isinstance(rows, pd.DataFrame) else np.asarray(rows)
        return {inputs[0].name: _as_type(values, inputs[0].type)}
    return {i.name: _as_type(rows.iloc[:, [n]].to_numpy(), i.type) for n, i in enumerate(inputs)}


ONNX_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64", "tensor(int32)": "int32",
    "tensor(bool)": "bool", "tensor(string)": "object", "tensor(uint8)": "uint8",
}  # fmt: skip


def _as_type(values: np.ndarray, onnx_type: str) -> np.ndarray:
    dtype = ONNX_TYPES.get(onnx_type)
    if dtype == "object":
        return values.astype(str).astype(object)
    return values.astype(dtype) if dtype else values


def _same_labels(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    left, right = left.reshape(len(left)), right.reshape(len(right))
    if left.dtype.kind != right.dtype.kind:
        return left.astype(str) == right.astype(str)
    return left == right
