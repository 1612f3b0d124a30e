"""``convert_to_onnx``: an MLflow model folder in, an MLflow model folder with the ONNX flavor (and pyfunc) out,
proven to predict what the source did. What the job kind, the replica's ``runtime: onnx`` and tests call.

Loading the source runs its code (pickles): call this only in a job's or a replica's process, never in the
workspace server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.conversion.converters import EXTRA, convert
from kiln.conversion.parity import parity_rows, report
from kiln.conversion.report import DEFAULT_TOLERANCE, ConversionReport
from kiln.conversion.source import read_source
from kiln.errors import InvalidSpec, ParityFailed, UnsupportedModel
from kiln.extras import require_extra

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_TOLERANCE", "ConversionReport", "ParityFailed", "UnsupportedModel", "convert_to_onnx"]

NEEDED_BY = "kiln's ONNX conversion"
METADATA_KEY = "kiln_conversion"  # the report, in the converted MLmodel's metadata


def convert_to_onnx(
    source: Path,
    target: Path,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    opset: int | None = None,
    extra_rows: pd.DataFrame | None = None,
    converted_from: str | None = None,
) -> ConversionReport:
    """Convert the MLflow model at ``source`` into a new MLflow model at ``target`` (onnx flavor + pyfunc),
    after proving parity on the input example, rows generated from the signature and ``extra_rows``.

    ParityFailed (with ``.report``) when a score differs by more than ``tolerance`` or a label differs:
    ``target`` is then not written. UnsupportedModel for a flavor, estimator or layer with no converter.
    ``converted_from`` (``NAME:VERSION``) is recorded in the report's registration tags."""
    onnx = require_extra(EXTRA, "onnx", needed_by=NEEDED_BY)
    ort = require_extra(EXTRA, "onnxruntime", needed_by=NEEDED_BY)
    if not 0 < tolerance <= 1:
        raise InvalidSpec(f"tolerance: {tolerance} is not in (0, 1]; the default is {DEFAULT_TOLERANCE}")
    if target.exists() and any(target.iterdir()):
        raise InvalidSpec(f"target: {target} is not empty; give an empty or new folder")
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    model = read_source(source)
    converted = convert(model, opset)
    onnx.checker.check_model(converted.onnx)
    session = ort.InferenceSession(converted.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    rows, counts = parity_rows(model, extra_rows)
    used_opset = next((o.version for o in converted.onnx.opset_import if o.domain in ("", "ai.onnx")), 0)
    checked = report(model, converted, session, rows, counts, tolerance, used_opset)
    checked.converters = {**checked.converters, "onnxruntime": ort.__version__}
    if not checked.passed:
        raise ParityFailed(checked)
    _save(converted.onnx, model, target, checked, converted_from)
    return checked


def _save(onnx_model: Any, model: Any, target: Path, checked: ConversionReport, converted_from: str | None) -> None:
    import mlflow
    import mlflow.onnx
    import onnx
    import onnxruntime
    from mlflow.models import Model, ModelSignature

    # the source's inputs; its outputs differ (a classifier's graph answers labels and probabilities)
    signature = ModelSignature(inputs=Model.load(str(model.folder)).signature.inputs)
    requirements = [f"mlflow=={mlflow.__version__}", f"onnx=={onnx.__version__}",
                    f"onnxruntime=={onnxruntime.__version__}"]  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.rmdir()  # empty (checked): MLflow makes it
    mlflow.onnx.save_model(
        onnx_model, str(target), signature=signature, pip_requirements=requirements,
        metadata={METADATA_KEY: checked.as_dict(), "kiln_version_tags": checked.tags(converted_from)},
    )  # fmt: skip
