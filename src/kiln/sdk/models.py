"""``Client().models``: the model registry (on MLflow's registry) and lineage."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from kiln import api
from kiln.errors import InvalidSpec
from kiln.sdk.rest import RestClient
from kiln.sdk.stream_reader import StreamReader
from kiln.sdk.uploads import upload_path
from kiln.specs.html_tables import Listing
from kiln.specs.model import LineageNode, ModelSpec, ModelVersionView, ModelView
from kiln.specs.model_compare import CompareRequest, MetricGate, ModelComparison, parse_metric_gate
from kiln.specs.yaml_source import YamlSource, read_yaml_file, validate_model

if TYPE_CHECKING:
    from kiln.sdk.jobs import Job

REMOTE_PREFIXES = ("runs:/", "azureml://", "kiln://", "upload:")


class ModelOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(self, spec: str | Path | ModelSpec | dict[str, Any] | None = None, **fields: Any) -> ModelVersionView:
        """Register a version from a YAML file, a spec, or fields (``name=, path=, type=, …``).
        A local ``path`` (relative to the YAML file) is uploaded first."""
        source, base = _source(spec, fields)
        model = validate_model(ModelSpec, source)
        body = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not model.path.startswith(REMOTE_PREFIXES):
            local = (base or Path.cwd()) / model.path
            if not local.exists():
                raise InvalidSpec(
                    f"{source.where(('path',))}: path '{model.path}' not found (looked for {local.resolve()})"
                )
            body["path"] = upload_path(self._rest, local, keep_folder_name=True)
        return self._rest.call(api.models.CREATE, json=body)

    def list(self, include_archived: bool = False) -> list[ModelView]:
        return Listing(self._rest.call(api.models.LIST, params={"include_archived": include_archived}))

    def get(self, name: str) -> ModelView:
        return self._rest.call(api.models.SHOW, name=name)

    def get_version(self, name: str, version: str = "latest") -> ModelVersionView:
        """``version``: a number, ``latest`` or an alias."""
        return self._rest.call(api.models.SHOW_VERSION, name=name, version=version)

    def archive(self, name: str, version: str) -> ModelVersionView:
        return self._rest.call(api.models.ARCHIVE_VERSION, name=name, version=version)

    def restore(self, name: str, version: str) -> ModelVersionView:
        return self._rest.call(api.models.RESTORE_VERSION, name=name, version=version)

    def set_alias(self, name: str, alias: str, version: str) -> ModelVersionView:
        return self._rest.call(api.models.SET_ALIAS, name=name, alias=alias, json={"version": str(version)})

    def delete_alias(self, name: str, alias: str) -> ModelView:
        return self._rest.call(api.models.DELETE_ALIAS, name=name, alias=alias)

    def compare(
        self, name: str, candidate: str, baseline: str, metrics: list[str | MetricGate] | str, min_delta: float = 0.0,
        data: str | None = None, label: str | None = None,
    ) -> ModelComparison:  # fmt: skip
        """Gate ``candidate`` against ``baseline`` (numbers, ``latest`` or ``@ALIAS``) on their runs' metrics.
        ``metrics``: ``"accuracy"``, ``"accuracy:max"``, ``"rmse:min:0.01"`` (``NAME[:GOAL[:MIN_DELTA]]``, the
        delta defaulting to ``min_delta``) or ``MetricGate``s. ``.passed`` says whether every metric passed.
        With ``data`` (``kiln:NAME:VERSION``) and ``label`` (its column of true answers), both versions are scored
        on that data asset's rows instead, on ``SCORED_METRICS`` (accuracy, f1, precision, recall, rmse, mae, r2)."""
        gates = [parse_metric_gate(m, min_delta) if isinstance(m, str) else m for m in _as_list(metrics)]
        try:
            body = CompareRequest(
                candidate=str(candidate), baseline=str(baseline), metrics=gates, data=data, label=label
            )
        except ValidationError as error:
            raise InvalidSpec(error.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return self._rest.call(api.models.COMPARE, name=name, json=body.model_dump(mode="json", exclude_none=True))

    def update(
        self, name: str, version: str | None = None, description: str | None = None, tags: dict[str, str] | None = None
    ) -> ModelView:
        body = {"version": version, "description": description, "tags": tags or {}}
        return self._rest.call(api.models.UPDATE, name=name, json=body)

    def download(self, name: str, version: str = "latest", download_path: str | Path = ".") -> Path:
        """Write the version's files into ``download_path/<name>``."""
        exact = self.get_version(name, version).version
        target = Path(download_path)
        with self._rest.stream(api.models.FILES, name=name, version=exact) as response:
            with tarfile.open(fileobj=StreamReader(response.iter_bytes()), mode="r|") as tar:
                tar.extractall(target, filter="data")
        return target / name

    def lineage(self, name: str, version: str = "latest") -> LineageNode:
        exact = self.get_version(name, version).version
        return self._rest.call(api.lineage.MODEL, name=name, version=exact)

    def package(
        self,
        name: str,
        version: str = "latest",
        to: str = "docker",
        output: str | Path | None = None,
        overwrite: bool = False,
    ) -> Path:
        """A Docker build context serving the version (``to="docker"``), made by the server, unpacked into
        ``output`` (default ``./NAME-docker``; refused if it holds anything, unless ``overwrite``)."""
        from kiln.packaging import api as packaging_api
        from kiln.sdk.packages import checked_output, unpack

        _one_of(to, ("docker",), "to")
        target = checked_output(output or f"{name}-{to}", overwrite)
        return unpack(self._rest, packaging_api.PACKAGE_MODEL, target, {"to": to}, name=name, version=version)

    def export(
        self,
        name: str,
        version: str = "latest",
        to: str = "triton",
        output: str | Path | None = None,
        overwrite: bool = False,
        max_batch_size: int | None = None,
        instance_kind: str | None = None,
        instance_count: int | None = None,
    ) -> Path:
        """An ONNX version as a Triton model repository (``to="triton"``: ``NAME/config.pbtxt``,
        ``NAME/1/model.onnx``) in ``output`` (default ``./NAME-triton``). ``instance_kind``: ``gpu`` (default) or
        ``cpu``."""
        from kiln.packaging import api as packaging_api
        from kiln.sdk.packages import checked_output, unpack

        _one_of(to, ("triton",), "to")
        if instance_kind is not None:
            _one_of(instance_kind, ("gpu", "cpu"), "instance_kind")
        target = checked_output(output or f"{name}-{to}", overwrite)
        params = {"to": to, "max_batch_size": max_batch_size, "instance_kind": instance_kind}
        params["instance_count"] = instance_count
        return unpack(self._rest, packaging_api.EXPORT_MODEL, target, params, name=name, version=version)

    def convert(
        self,
        name: str,
        version: str,
        to: str = "onnx",
        *,
        tolerance: float | None = None,
        opset: int | None = None,
        data: str | None = None,
        register_as: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Job:
        """Convert a version (number, ``latest`` or an alias) to ONNX in a tracked ``model_conversion`` job and
        answer the job (waited for when ``wait``). When parity holds within ``tolerance`` it registers the next
        version of ``register_as`` (default ``NAME-onnx``); a parity failure fails the job, nothing registered."""
        from kiln.conversion import api as conversion_api
        from kiln.sdk.jobs import Job, JobOperations

        body: dict[str, Any] = {"to": to, "tolerance": tolerance, "opset": opset, "data": data, "name": register_as}
        view = self._rest.call(
            conversion_api.CONVERT, name=name, version=version, json={k: v for k, v in body.items() if v is not None}
        )
        job = Job(JobOperations(self._rest), view)
        return job.wait(timeout) if wait else job


def _as_list(metrics: list[str | MetricGate] | str) -> list[str | MetricGate]:
    return [metrics] if isinstance(metrics, str) else list(metrics)


def _one_of(value: str, allowed: tuple[str, ...], field: str) -> None:
    if value not in allowed:
        raise InvalidSpec(f"--{field.replace('_', '-')} {value!r}: expected one of {', '.join(allowed)}")


def _source(
    spec: str | Path | ModelSpec | dict[str, Any] | None, fields: dict[str, Any]
) -> tuple[YamlSource, Path | None]:
    if isinstance(spec, ModelSpec):
        return YamlSource(spec.model_dump(by_alias=True, exclude_none=True)), None
    if isinstance(spec, dict):
        return YamlSource({**spec, **fields}), None
    if spec is None:
        return YamlSource(dict(fields)), None
    source = read_yaml_file(spec)
    if isinstance(source.data, dict):
        source.data.update(fields)
    return source, Path(spec).parent
