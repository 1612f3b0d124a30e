"""``Client().computes``: compute targets (``local`` built in, named local computes and Ray clusters
registered) with capacity and use."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

from kiln import api
from kiln.sdk.rest import RestClient
from kiln.specs.compute import ComputeSpec, ComputeView
from kiln.specs.yaml_source import spec_body

ComputeLike = str | Path | ComputeSpec | dict[str, Any]


class ComputeOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(self, spec: ComputeLike | None = None, **fields: Any) -> ComputeView:
        """Register a Ray cluster (``name=, type="ray", address=``, and ``token_file=`` when it asks for a token: an
        absolute path on the workspace server's machine; its dashboard must answer) or a named
        local compute (``name=, type="local"``, optionally ``max_concurrent_jobs=``, ``gpus=``) from a YAML
        file, a spec or fields; fields given beside a file override the file's."""
        body = spec_body(ComputeSpec, spec, fields)
        return self._rest.call(api.computes.CREATE, json=body)

    def list(self) -> builtins.list[ComputeView]:
        return self._rest.call(api.computes.LIST)

    def get(self, name: str) -> ComputeView:
        return self._rest.call(api.computes.SHOW, name=name)

    def delete(self, name: str) -> None:
        self._rest.call(api.computes.DELETE, name=name)
