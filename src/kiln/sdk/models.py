"""``Client().models``: the model registry (on MLflow's registry) and lineage."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from kiln.errors import InvalidSpec
from kiln.sdk.rest import RestClient
from kiln.sdk.stream_reader import StreamReader
from kiln.sdk.uploads import upload_path
from kiln.specs.model import LineageNode, ModelSpec, ModelVersionView, ModelView
from kiln.specs.yaml_source import YamlSource, read_yaml_file, validate_model

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
            body["path"] = upload_path(self._rest, local)
        return ModelVersionView.model_validate(self._rest.request("POST", "/api/v1/models", json=body))

    def list(self, include_archived: bool = False) -> list[ModelView]:
        data = self._rest.request("GET", "/api/v1/models", params={"include_archived": include_archived})
        return [ModelView.model_validate(item) for item in data]

    def get(self, name: str) -> ModelView:
        return ModelView.model_validate(self._rest.request("GET", f"/api/v1/models/{name}"))

    def get_version(self, name: str, version: str = "latest") -> ModelVersionView:
        """``version``: a number, ``latest`` or an alias."""
        return ModelVersionView.model_validate(self._rest.request("GET", f"/api/v1/models/{name}/versions/{version}"))

    def archive(self, name: str, version: str) -> ModelVersionView:
        return ModelVersionView.model_validate(
            self._rest.request("POST", f"/api/v1/models/{name}/versions/{version}/archive")
        )

    def restore(self, name: str, version: str) -> ModelVersionView:
        return ModelVersionView.model_validate(
            self._rest.request("POST", f"/api/v1/models/{name}/versions/{version}/restore")
        )

    def set_alias(self, name: str, alias: str, version: str) -> ModelVersionView:
        data = self._rest.request("PUT", f"/api/v1/models/{name}/aliases/{alias}", json={"version": str(version)})
        return ModelVersionView.model_validate(data)

    def delete_alias(self, name: str, alias: str) -> ModelView:
        return ModelView.model_validate(self._rest.request("DELETE", f"/api/v1/models/{name}/aliases/{alias}"))

    def update(
        self, name: str, version: str | None = None, description: str | None = None, tags: dict[str, str] | None = None
    ) -> ModelView:
        body = {"version": version, "description": description, "tags": tags or {}}
        return ModelView.model_validate(self._rest.request("PATCH", f"/api/v1/models/{name}", json=body))

    def download(self, name: str, version: str = "latest", download_path: str | Path = ".") -> Path:
        """Write the version's files into ``download_path/<name>``."""
        exact = self.get_version(name, version).version
        target = Path(download_path)
        with self._rest.stream("GET", f"/api/v1/models/{name}/versions/{exact}/files") as response:
            with tarfile.open(fileobj=StreamReader(response.iter_bytes()), mode="r|") as tar:
                tar.extractall(target, filter="data")
        return target / name

    def lineage(self, name: str, version: str = "latest") -> LineageNode:
        exact = self.get_version(name, version).version
        return LineageNode.model_validate(self._rest.request("GET", f"/api/v1/lineage/model/{name}/{exact}"))


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
