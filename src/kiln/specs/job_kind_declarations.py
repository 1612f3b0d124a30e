"""A job kind's declaration (:class:`JobKind`), light to import: a capability's descriptor names its kinds with
it, and the CLI loads every capability at each start without importing pydantic or the specs. The kinds
declared before :mod:`kiln.specs.job_kinds` is imported wait here and join its registry when it is."""

from __future__ import annotations

import builtins
import importlib
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True)
class JobKind:
    """One job type: ``type`` is the YAML value; ``spec`` and ``handler`` are ``"module:attribute"`` names."""

    type: str
    spec: str
    handler: str
    description: str = ""
    # True: the workspace server's own logic runs it (a sweep's trials are jobs of their own), never a process:
    # the engine leaves its rows to the capability's service
    runs_in_server: bool = False

    def spec_class(self) -> builtins.type[BaseModel]:
        from pydantic import BaseModel

        loaded = load_attribute(self.spec)
        if not (isinstance(loaded, type) and issubclass(loaded, BaseModel)):
            raise TypeError(f"job kind '{self.type}': {self.spec} is not a pydantic model class")
        return loaded

    def load_handler(self) -> Any:
        return load_attribute(self.handler)


_declared: dict[str, JobKind] = {}
_lock = threading.Lock()


def declare(kind: JobKind) -> None:
    """Register ``kind`` now if the registry is loaded, else when it is (the same checks either way: another
    declaration under a taken ``type`` is a ValueError)."""
    registry = sys.modules.get("kiln.specs.job_kinds")
    if registry is not None:
        registry.register_job_kind(kind)
        return
    with _lock:
        add_kind(_declared, kind)


def add_kind(kinds: dict[str, JobKind], kind: JobKind) -> None:
    """Put ``kind`` in ``kinds`` (the caller holds their lock): the same declaration again is a no-op; another
    one under a taken ``type`` is a programming error (two capabilities claim one type)."""
    existing = kinds.get(kind.type)
    if existing is not None and existing != kind:
        raise ValueError(f"job type '{kind.type}' is already registered ({existing.spec}); cannot add {kind.spec}")
    kinds[kind.type] = kind


def take_declared() -> list[JobKind]:
    """The kinds declared before the registry was loaded, handed over once."""
    with _lock:
        kinds = list(_declared.values())
        _declared.clear()
    return kinds


def load_attribute(reference: str) -> Any:
    """``"package.module:attribute"`` → the attribute, imported on first use."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"'{reference}' is not a 'module:attribute' reference")
    return getattr(importlib.import_module(module_name), attribute)
