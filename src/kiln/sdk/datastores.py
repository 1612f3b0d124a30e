"""``Client().datastores``: where remote data lives, and the credential that reads it (never read back)."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

from kiln import api
from kiln.sdk.rest import RestClient
from kiln.specs.datastore import DatastoreSpec, DatastoreView
from kiln.specs.yaml_source import spec_body

DatastoreLike = str | Path | DatastoreSpec | dict[str, Any]


class DatastoreOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(self, spec: DatastoreLike | None = None, **fields: Any) -> DatastoreView:
        """Register a datastore from Azure ML's datastore YAML, a spec or fields (``name=, type=, bucket=…,
        credentials={…}``); fields given beside a file override the file's."""
        return self._rest.call(api.datastores.CREATE, json=spec_body(DatastoreSpec, spec, fields))

    def list(self) -> builtins.list[DatastoreView]:
        return self._rest.call(api.datastores.LIST)

    def get(self, name: str) -> DatastoreView:
        return self._rest.call(api.datastores.SHOW, name=name)

    def delete(self, name: str) -> None:
        self._rest.call(api.datastores.DELETE, name=name)
