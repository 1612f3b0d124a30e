"""A job's path inputs: checked and pinned at submit, put in place before the process starts.

Each kind of reference has a resolver: uploads from the submitting machine
(``upload:<hash>``), data assets and registered models (``kiln.services``). At submit,
``pin`` turns a reference into an exact record (``kiln:iris@latest`` → version 3), stored
with the job, so the job reads what was current when it was submitted and its lineage
names exact versions.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Protocol, TypeVar

from kiln.errors import InvalidSpec, KilnError
from kiln.specs.job import JobInput, JobSpecBase
from kiln.specs.pins import InputPin

PinT = TypeVar("PinT")


class InputResolver(Protocol):
    def accepts(self, item: JobInput) -> bool:
        """Whether this resolver handles the input's ``path`` (by its prefix)."""
        ...

    def pin(self, name: str, item: JobInput) -> InputPin:
        """Check the reference (InvalidSpec naming ``inputs.<name>`` if it is wrong); return an exact record."""
        ...

    def materialize(self, name: str, item: JobInput, pinned: InputPin, target: Path) -> Path:
        """Put the input below ``target`` (a fresh folder) and return the path the job is given."""
        ...

    def stored_key(self, name: str, pinned: InputPin) -> str | None:
        """The store key of the input's files where kiln keeps them itself (they can then be signed for a node
        without the server's disk: ``kiln.jobs.input_manifest``); None for anything else (remote data)."""
        ...


class ReadOnlyProvider(Protocol):
    """Shows a stored folder to a job read-only, without copying it (``mode: ro_mount``; the local runner's)."""

    def provide(self, source: Path, target: Path) -> None: ...


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

    def pin(self, spec: JobSpecBase) -> dict[str, InputPin]:
        pinned = {}
        for name, item in spec.path_inputs().items():
            if not item.path:
                raise InvalidSpec(f"inputs.{name}: a {item.type} input needs a 'path'")
            pinned[name] = self._resolver_for(name, item).pin(name, item)
        return pinned

    def stored_key(self, spec: JobSpecBase, name: str, pinned: InputPin) -> str | None:
        """The store key of path input ``name``'s files, if the store holds them (None: they come from elsewhere)."""
        return self._resolver_for(name, spec.path_inputs()[name]).stored_key(name, pinned)

    def materialize(
        self, spec: JobSpecBase, pinned: dict[str, InputPin], inputs_dir: Path, skip: Collection[str] = ()
    ) -> dict[str, Path]:
        """Each path input (but those in ``skip``) put in place below ``inputs_dir``; the path the job is given."""
        paths = {}
        for name, item in spec.path_inputs().items():
            if name in skip:
                continue
            target = inputs_dir / name
            target.mkdir(parents=True, exist_ok=True)
            paths[name] = self._resolver_for(name, item).materialize(name, item, pinned[name], target)
        return paths


def expect_pin(pinned: InputPin, kind: type[PinT], name: str) -> PinT:
    """The pin a resolver recorded, as its own class (another kind here means the record was altered)."""
    if not isinstance(pinned, kind):
        raise KilnError(f"inputs.{name}: the job's pinned record is a '{pinned.kind}' record, not what its path names")
    return pinned
