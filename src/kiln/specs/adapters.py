"""One pydantic ``TypeAdapter`` per type, built on first use and kept for the process: building one is not free (a
list of job views builds the views' whole schema, ~20 ms), so the SDK parses each kind of answer and the CLI writes
it as JSON with the same one."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def adapter_of(kind: Any) -> TypeAdapter[Any]:
    """The adapter of ``kind`` (a class, or a type such as ``list[JobView]``)."""
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter
