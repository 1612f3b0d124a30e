"""A job's path inputs: checked and pinned at submit, put in place before the process starts.

Each kind of reference has a resolver: uploads from the submitting machine
(``upload:<hash>``) here; data assets and registered models register their own. At
submit, ``pin`` turns a reference into an exact record (``kiln:iris@latest`` → version 3),
stored with the job, so the job reads what was current when it was submitted and its
lineage names exact versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kiln.artifacts.store import ArtifactStore
from kiln.errors import InvalidSpec
from kiln.services.uploads import UploadService
from kiln.specs.job import CommandJobSpec, JobInput

PinnedInput = dict[str, Any]


class InputResolver(Protocol):
    def accepts(self, item: JobInput) -> bool:
        """Whether this resolver handles the input's ``path`` (by its prefix)."""
        ...

    def pin(self, name: str, item: JobInput) -> PinnedInput:
        """Check the reference (InvalidSpec naming ``inputs.<name>`` if it is wrong); return an exact record."""
        ...

    def materialize(self, name: str, item: JobInput, pinned: PinnedInput, target: Path) -> Path:
        """Put the input below ``target`` (a fresh folder) and return the path the job is given."""
        ...


@dataclass
class UploadedInputs:
    """Files and folders that the CLI/SDK uploaded from the submitting machine."""

    uploads: UploadService
    store: ArtifactStore

    def accepts(self, item: JobInput) -> bool:
        return bool(item.path and item.path.startswith("upload:"))

    def pin(self, name: str, item: JobInput) -> PinnedInput:
        key, digest = self.uploads.resolve(item.path or "", f"inputs.{name}.path")
        return {"kind": "upload", "key": key, "content_hash": digest}

    def materialize(self, name: str, item: JobInput, pinned: PinnedInput, target: Path) -> Path:
        key = str(pinned["key"])
        if item.type == "uri_file":
            target = target / key.rsplit("/", 1)[-1]
        self.store.get(key, target)
        return target


class JobInputs:
    def __init__(self, resolvers: list[InputResolver]) -> None:
        self._resolvers = list(resolvers)

    def add_resolver(self, resolver: InputResolver) -> None:
        self._resolvers.append(resolver)

    def _resolver_for(self, name: str, item: JobInput) -> InputResolver:
        for resolver in self._resolvers:
            if resolver.accepts(item):
                return resolver
        raise InvalidSpec(
            f"inputs.{name}.path: {item.path!r} is not something this workspace can read "
            "(a local path, which the CLI/SDK upload, or a reference such as kiln:NAME:VERSION)"
        )

    def pin(self, spec: CommandJobSpec) -> dict[str, PinnedInput]:
        pinned = {}
        for name, item in spec.path_inputs().items():
            if not item.path:
                raise InvalidSpec(f"inputs.{name}: a {item.type} input needs a 'path'")
            pinned[name] = self._resolver_for(name, item).pin(name, item)
        return pinned

    def materialize(self, spec: CommandJobSpec, pinned: dict[str, PinnedInput], inputs_dir: Path) -> dict[str, Path]:
        paths = {}
        for name, item in spec.path_inputs().items():
            target = inputs_dir / name
            target.mkdir(parents=True, exist_ok=True)
            paths[name] = self._resolver_for(name, item).materialize(name, item, pinned[name], target)
        return paths
