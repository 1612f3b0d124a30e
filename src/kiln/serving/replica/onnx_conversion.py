"""``runtime: onnx`` for a model that is not ONNX yet: converted in the replica, at load.

Loading the source model runs the user's code (pickle, cloudpickle), so it happens here, in the
replica process, never in the workspace server. ``kiln.conversion`` converts it and proves parity
on the input example and rows drawn from the signature; the replica then serves the ONNX graph.
When parity fails, or the model cannot be converted, the replica stops with the report as its
last log line, and the deployment fails with it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from kiln.errors import KilnError, ModelLoadFailed
from kiln.specs.replica import OnnxRuntimeSettings

log = logging.getLogger(__name__)


class ConvertedModel:
    """The ONNX model converted from ``source``, in a folder that lives as long as this object."""

    def __init__(self, source: Path, settings: OnnxRuntimeSettings) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="kiln-onnx-")
        self.model_dir = Path(self._folder.name) / "model"
        self.summary = _convert(source, self.model_dir, settings)


def _convert(source: Path, target: Path, settings: OnnxRuntimeSettings) -> str:
    try:
        from kiln.conversion import convert
    except ImportError as exc:
        raise ModelLoadFailed(
            f"runtime: onnx needs kiln's conversion package, which this installation cannot import ({exc}); "
            'install kiln with its onnx extra (pip install "kiln[onnx]") or deploy with runtime: native'
        ) from exc
    options = {} if settings.parity_tolerance is None else {"tolerance": settings.parity_tolerance}
    try:
        report = convert.convert_to_onnx(source, target, **options)
    except KilnError as exc:  # ParityFailed (with the report), UnsupportedModel, MissingExtra
        raise ModelLoadFailed(f"runtime: onnx: the model was not converted: {_with_report(exc)}") from exc
    except Exception as exc:
        raise ModelLoadFailed(
            f"runtime: onnx: converting the model failed: {type(exc).__name__}: {exc}; deploy with runtime: native "
            "to serve it as it is"
        ) from exc
    summary = str(report.summary())
    log.info("runtime: onnx: converted, parity proven: %s", summary)
    return summary


def _with_report(exc: KilnError) -> str:
    """The error's message, with its parity report's summary when the message does not hold it."""
    report = getattr(exc, "report", None)
    summary = str(report.summary()) if report is not None and hasattr(report, "summary") else ""
    return exc.message if summary in exc.message else f"{exc.message} (parity: {summary})"
