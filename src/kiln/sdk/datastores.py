"""``Client().datastores``: where remote data lives, and the credential that reads it (never read back)."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

from kiln import api
from kiln.sdk.rest import RestClient
from kiln.specs.datastore import DatastoreSpec, DatastoreView
from kiln.specs.yaml_source import YamlSource, read_yaml_file, validate_model

DatastoreLike = str | Path | DatastoreSpec | dict[str, Any]


class DatastoreOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(self, spec: DatastoreLike | None = None, **fields: Any) -> DatastoreView:
        """Register a datastore from Azure ML's datastore YAML, a spec or fields (``name=, type=, bucket=…,
        credentials={…}``); fields given beside a file override the file's."""
        return self._rest.call(api.datastores.CREATE, json=datastore_body(spec, fields))

    def list(self) -> builtins.list[DatastoreView]:
        return self._rest.call(api.datastores.LIST)

    def get(self, name: str) -> DatastoreView:
        return self._rest.call(api.datastores.SHOW, name=name)

    def delete(self, name: str) -> None:
        self._rest.call(api.datastores.DELETE, name=name)


def datastore_body(spec: DatastoreLike | None, fields: dict[str, Any]) -> dict[str, Any]:
    """The REST body, checked here so that a mistake names the file's line."""
    if spec is None:
        source = YamlSource({})
    elif isinstance(spec, DatastoreSpec):
        source = YamlSource(spec.model_dump(by_alias=True, exclude_none=True))
    elif isinstance(spec, dict):
        source = YamlSource(dict(spec))
    else:
        source = read_yaml_file(spec)
    if isinstance(source.data, dict):
        source.data.update({k: v for k, v in fields.items() if v is not None})
    validated: DatastoreSpec = validate_model(DatastoreSpec, source)
    return validated.model_dump(mode="json", by_alias=True, exclude_none=True)
