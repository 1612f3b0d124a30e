"""The responsible AI capability's REST operations, declared as kiln.api's are (no server imports here)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from kiln.api.operation import Operation
from kiln.errors import Conflict, MissingExtra, NotFound
from kiln.rai.report_schema import RaiReport
from kiln.specs.roles import Role


class AnalysisView(BaseModel):
    """One responsible_ai job, as a model's list of analyses shows it."""

    job: str
    status: str
    model: str  # NAME:VERSION analysed
    created_at: datetime
    mitigated_as: str | None = None  # the model a mitigated version is registered under
    summary: str


REPORT = Operation(
    "rai.report", "GET", "/api/v1/rai/jobs/{name}/report",
    summary="The report of a responsible_ai job (report.json)",
    description="The job must be a responsible_ai job that completed; the answer is report.json, as documented in "
    "docs/responsible-ml.md.",
    role=Role.READER, action="reading responsible AI reports",
    response=RaiReport, errors=(Conflict, MissingExtra),
)  # fmt: skip
ANALYSES = Operation(
    "rai.analyses", "GET", "/api/v1/rai/analyses",
    summary="Responsible AI jobs, newest first (of one model with ``model``)",
    role=Role.READER, action="listing responsible AI analyses",
    response=list[AnalysisView], query=("model",), errors=(NotFound, MissingExtra),
)  # fmt: skip
