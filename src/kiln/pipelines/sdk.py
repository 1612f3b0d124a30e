"""``Client().components``: command components, versioned in the workspace, over REST."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.pipelines import api

if TYPE_CHECKING:
    from kiln.sdk.rest import RestClient


class ComponentOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def create(self, component: str | Path | dict[str, Any], version: str | None = None) -> api.ComponentView:
        """Register a command component from its YAML file (its ``code`` folder, relative to the file, uploaded
        and pinned by its hash) or a mapping; without a version, the next one."""
        from kiln.pipelines.component import read_component_file
        from kiln.sdk.uploads import ensure_readable, upload_path
        from kiln.specs.job import UPLOAD_PREFIX

        if isinstance(component, dict):
            body, folder = dict(component), Path.cwd()
        else:
            body, folder = read_component_file(Path(component), "-f")
        if version is not None:
            body["version"] = version
        code = body.get("code")
        if isinstance(code, str) and not code.startswith(UPLOAD_PREFIX):
            local = folder / code
            if not local.is_dir():
                raise _invalid(f"code: folder '{code}' not found (looked for {local.resolve()})")
            ensure_readable(local, "code")
            body["code"] = upload_path(self._rest, local)
        return self._rest.call(api.CREATE, json=body)

    def list(self, name: str | None = None) -> builtins.list[api.ComponentView]:
        """The latest version of each component, or every version of ``name``, newest first."""
        return self._rest.call(api.LIST, params={"name": name} if name else None)

    def get(self, name: str, version: str = "latest") -> api.ComponentView:
        return self._rest.call(api.SHOW, name=name, version=version)


def _invalid(message: str) -> Exception:
    from kiln.errors import InvalidSpec

    return InvalidSpec(message)
