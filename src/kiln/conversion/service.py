"""The conversion capability's service: a REST ``models.convert`` becomes a ``model_conversion`` job, submitted
through the workspace's JobService (the model is loaded in the job's sandbox, never here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidSpec
from kiln.specs.job_kinds import parse_job_spec
from kiln.specs.references import is_asset_reference, parse_asset_reference
from kiln.specs.views import JobView

if TYPE_CHECKING:
    from kiln.capabilities.services import CapabilityContext
    from kiln.conversion.api import ConvertRequest

EXPERIMENT = "model-conversions"


class ConversionService:
    def __init__(self, context: CapabilityContext) -> None:
        self._jobs = context.jobs
        self._models = context.models
        self._data = context.data

    def convert(self, name: str, version: str, request: ConvertRequest, created_by: str | None = None) -> JobView:
        """Submit the job converting ``name``'s ``version`` (a number, ``latest`` or an alias: pinned to its number)."""
        return self._jobs.submit(parse_job_spec(self.job_spec(name, version, request)), created_by=created_by)

    def job_spec(self, name: str, version: str, request: ConvertRequest) -> dict[str, Any]:
        source = self._models.get_version(name, version)  # NotFound names the model and version
        if source.type != "mlflow_model":
            raise InvalidSpec(
                f"model {source.name}:{source.version} is a {source.type}; only mlflow_model versions (an MLmodel "
                "file with a flavor and a signature) convert to ONNX"
            )
        spec: dict[str, Any] = {
            "type": "model_conversion", "model": f"kiln:{source.name}:{source.version}", "to": request.to,
            "tolerance": request.tolerance, "experiment_name": EXPERIMENT,
            "display_name": f"convert {source.name}:{source.version} to {request.to}",
        }  # fmt: skip
        if request.opset is not None:
            spec["opset"] = request.opset
        if request.name:
            spec["register_as"] = request.name
        if request.data:
            if not is_asset_reference(request.data):
                raise InvalidSpec(
                    f"data: {request.data!r} is not a data asset; write kiln:NAME:VERSION or kiln:NAME@latest"
                )
            spec["data"] = request.data
            spec["data_type"] = self._data.for_input(parse_asset_reference(request.data, "data"), "data").type
        return spec
