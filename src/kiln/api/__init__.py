"""The REST contract: every operation of the workspace's API, declared once (``kiln.api.operation``).

One module per resource. The server binds its handlers to these declarations
(``kiln.server.routes``), the SDK calls through them (``kiln.sdk.rest.RestClient.call``), and the
OpenAPI document is generated from them. This package imports only ``kiln.specs`` models and
``kiln.errors``: a client can use it without the server's dependencies.

A capability that brings its own routes declares them the same way in its own api module and
names that module where the contract is gathered: ``operations(its_module)``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.api import (
        audit,
        computes,
        data,
        datastores,
        endpoints,
        environments,
        jobs,
        lineage,
        models,
        uploads,
        users,
        workspace,
    )
    from kiln.api.operation import Operation

# imported on first use (``api.jobs.LIST``): a client that lists jobs does not build every resource's models
CORE_MODULE_NAMES: tuple[str, ...] = (
    "uploads", "jobs", "environments", "data", "models", "lineage", "endpoints", "users", "computes", "datastores",
    "workspace", "audit",
)  # fmt: skip

__all__ = [
    "CORE_MODULES",
    "CORE_MODULE_NAMES",
    "Operation",
    "audit",
    "computes",
    "data",
    "datastores",
    "endpoints",
    "environments",
    "jobs",
    "lineage",
    "models",
    "operations",
    "uploads",
    "users",
    "workspace",
]


def __getattr__(name: str) -> Any:
    if name == "Operation":  # imported on first use: kiln.api.paths is read without pydantic
        from kiln.api.operation import Operation

        return Operation
    if name in CORE_MODULE_NAMES:
        return importlib.import_module(f"{__name__}.{name}")  # the import sets it on this package too
    if name == "CORE_MODULES":
        return core_modules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def core_modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in CORE_MODULE_NAMES)


def operations(*modules: ModuleType) -> dict[str, Operation[Any]]:
    """The operations declared in the core modules and in ``modules``, by name; a name twice is an error."""
    from kiln.api.operation import declared_in

    found: dict[str, Operation[Any]] = {}
    for module in (*core_modules(), *modules):
        for operation in declared_in(module):
            if found.setdefault(operation.name, operation) != operation:
                raise ValueError(f"two operations are named {operation.name}")
    return found
