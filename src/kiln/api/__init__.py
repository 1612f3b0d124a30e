"""The REST contract: every operation of the workspace's API, declared once (``kiln.api.operation``).

One module per resource. The server binds its handlers to these declarations
(``kiln.server.routes``), the SDK calls through them (``kiln.sdk.rest.RestClient.call``), and the
OpenAPI document is generated from them. This package imports only ``kiln.specs`` models and
``kiln.errors``: a client can use it without the server's dependencies.

A capability that brings its own routes declares them the same way in its own api module and
names that module where the contract is gathered: ``operations(its_module)``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from kiln.api import (
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
from kiln.api.operation import Operation, declared_in

CORE_MODULES: tuple[ModuleType, ...] = (
    uploads, jobs, environments, data, models, lineage, endpoints, users, computes, datastores, workspace,
)  # fmt: skip

__all__ = [
    "CORE_MODULES",
    "Operation",
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


def operations(*modules: ModuleType) -> dict[str, Operation[Any]]:
    """The operations declared in the core modules and in ``modules``, by name; a name twice is an error."""
    found: dict[str, Operation[Any]] = {}
    for module in (*CORE_MODULES, *modules):
        for operation in declared_in(module):
            if found.setdefault(operation.name, operation) != operation:
                raise ValueError(f"two operations are named {operation.name}")
    return found
