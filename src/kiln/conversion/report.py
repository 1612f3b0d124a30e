"""What a conversion proved: the parity report (light: no framework is imported here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Largest |source - converted| accepted on any score or probability. ONNX graphs compute in float32
# where scikit-learn computes in float64: 1e-4 passes those rounding differences with room to spare
# (iris' pipeline differs by ~1e-7, the digits CNN by ~1e-6) and fails any real change of behaviour.
DEFAULT_TOLERANCE = 1e-4

# the tags a registered conversion carries (kiln model show reads them back)
OPSET_TAG = "onnx.opset"
CONVERTERS_TAG = "onnx.converters"
PARITY_TAG = "onnx.parity"
SOURCE_TAG = "onnx.converted_from"


@dataclass
class ConversionReport:
    """The parity proof of one conversion. ``max_abs_diff`` is over every score/probability of every row
    checked; ``label_agreement`` the share of rows whose predicted label agrees (None for a model with no
    labels, e.g. a regressor or a network whose output is a tensor of scores)."""

    rows_checked: int
    max_abs_diff: float
    label_agreement: float | None
    tolerance: float
    opset: int
    converters: dict[str, str]
    source_flavor: str
    sources: dict[str, int] = field(default_factory=dict)  # rows checked by origin: example, generated, data

    @property
    def passed(self) -> bool:
        labels_agree = self.label_agreement is None or self.label_agreement == 1.0
        return self.max_abs_diff <= self.tolerance and labels_agree and self.rows_checked > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_checked": self.rows_checked,
            "max_abs_diff": self.max_abs_diff,
            "label_agreement": self.label_agreement,
            "tolerance": self.tolerance,
            "opset": self.opset,
            "converters": dict(self.converters),
            "source_flavor": self.source_flavor,
            "sources": dict(self.sources),
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversionReport:
        return cls(
            rows_checked=int(data["rows_checked"]), max_abs_diff=float(data["max_abs_diff"]),
            label_agreement=None if data.get("label_agreement") is None else float(data["label_agreement"]),
            tolerance=float(data["tolerance"]), opset=int(data["opset"]), converters=dict(data.get("converters", {})),
            source_flavor=str(data.get("source_flavor", "")), sources=dict(data.get("sources", {})),
        )  # fmt: skip

    def summary(self) -> str:
        """One line: what was checked and how close it came."""
        labels = "" if self.label_agreement is None else f", label agreement {self.label_agreement:.2%}"
        verdict = "within" if self.passed else "OVER"
        return (
            f"{self.rows_checked} rows checked, max |Δ| {self.max_abs_diff:.3g} {verdict} tolerance "
            f"{self.tolerance:g}{labels} ({self.source_flavor} → ONNX opset {self.opset})"
        )

    def tags(self, source: str | None = None) -> dict[str, str]:
        """The registered version's tags: opset, converters (``name version, …``), the report as JSON, the source."""
        tags = {
            OPSET_TAG: str(self.opset),
            CONVERTERS_TAG: ", ".join(f"{name} {version}" for name, version in sorted(self.converters.items())),
            PARITY_TAG: json.dumps(self.as_dict(), sort_keys=True),
        }
        if source:
            tags[SOURCE_TAG] = source
        return tags


def report_from_tags(tags: dict[str, str]) -> ConversionReport | None:
    """The parity report a converted version carries in its tags (None for a version that is no conversion)."""
    raw = tags.get(PARITY_TAG)
    if not raw:
        return None
    try:
        return ConversionReport.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None
