"""What an import did, item by item, and the progress events the server streams while it runs.

The server answers the ``workspace.import`` operation (``kiln.api.workspace``) with one JSON object per line:
``{"type": "progress", …}`` while it works, then ``{"type": "result", "report": …}``. The
report says exactly what was imported, what was there already, and what was skipped; when
the import stopped on an error, it says so and what had been imported before.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

OnConflict = Literal["fail", "skip"]
KIND_ORDER = (
    "data asset version", "privacy ledger", "environment", "run", "logged model", "job", "registered model",
    "endpoint",
)  # fmt: skip


class KindReport(BaseModel):
    imported: list[str] = Field(default_factory=list)
    already_there: list[str] = Field(default_factory=list, description="identical on the target: skipped")
    skipped: list[str] = Field(default_factory=list, description="different on the target: kept the target's")


class ImportReport(BaseModel):
    kinds: dict[str, KindReport] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    complete: bool = False
    error: str | None = Field(None, description="why the import stopped, when it did")
    stopped_at: str | None = Field(None, description="the item it was writing when it stopped")

    def of(self, kind: str) -> KindReport:
        return self.kinds.setdefault(kind, KindReport())

    def summary(self) -> str:
        """One line per kind: '3 imported, 1 already there, 0 skipped'."""
        lines = []
        for kind in sorted(self.kinds, key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER)):
            counts = self.kinds[kind]
            parts = [f"{len(counts.imported)} imported"]
            if counts.already_there:
                parts.append(f"{len(counts.already_there)} already there")
            if counts.skipped:
                parts.append(f"{len(counts.skipped)} skipped (different on the target)")
            lines.append(f"{kind}s: {', '.join(parts)}")
        return "\n".join(lines)

    def imported_summary(self) -> str:
        """What was written, for the message of an import that stopped."""
        parts = [f"{len(r.imported)} {kind}(s)" for kind, r in self.kinds.items() if r.imported]
        return ", ".join(parts) or "nothing"


class ProgressEvent(BaseModel):
    type: Literal["progress"] = "progress"
    done: int
    total: int
    item: str


class ResultEvent(BaseModel):
    type: Literal["result"] = "result"
    report: ImportReport
