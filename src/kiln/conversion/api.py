"""The conversion capability's REST operation, declared as kiln.api's are (no server or extra imported here)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from kiln.api.operation import Operation
from kiln.conversion.job_kind import MAX_OPSET, MIN_OPSET
from kiln.conversion.report import DEFAULT_TOLERANCE
from kiln.errors import MissingExtra, NotFound, Unavailable
from kiln.specs.bounded import PathText
from kiln.specs.model import MODEL_NAME_PATTERN
from kiln.specs.roles import Role
from kiln.specs.views import JobView


class ConvertRequest(BaseModel):
    """The body of ``models.convert``: what to convert to and how close the result must stay."""

    model_config = {"extra": "forbid"}

    to: Literal["onnx"] = "onnx"
    tolerance: float = Field(DEFAULT_TOLERANCE, gt=0, le=1, description="largest |source - converted| on any score")
    opset: int | None = Field(None, ge=MIN_OPSET, le=MAX_OPSET)
    data: PathText | None = Field(None, description="a data asset whose rows join the proof: kiln:NAME:VERSION")
    name: str | None = Field(
        None, pattern=MODEL_NAME_PATTERN, description="register the result as this model (default: NAME-onnx)"
    )


CONVERT = Operation(
    "models.convert", "POST", "/api/v1/models/{name}/versions/{version}/convert",
    summary="Convert a model version to ONNX (a tracked job with a parity proof)",
    description=(
        "Submits a ``model_conversion`` job and answers it. When it completes, the converted model is the next "
        "version of ``name`` (default ``NAME-onnx``) with its opset, converters and parity report as tags; a "
        "parity failure fails the job with the report in its log and registers nothing."
    ),
    role=Role.CONTRIBUTOR, action="converting models",
    response=JobView, status_code=201, body=ConvertRequest, errors=(NotFound, Unavailable, MissingExtra),
)  # fmt: skip
