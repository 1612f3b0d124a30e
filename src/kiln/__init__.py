"""kiln: a self-hosted machine-learning workspace.

Importing kiln is cheap: it imports no ML framework and no server code. The public names
below are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Client",
    "CommandJobSpec",
    "Conflict",
    "Forbidden",
    "InvalidSpec",
    "Job",
    "KilnError",
    "MissingExtra",
    "NotFound",
    "Unauthorized",
    "Unavailable",
    "__version__",
]

_LAZY = {
    "Client": "kiln.client",
    "Job": "kiln.client",
    "CommandJobSpec": "kiln.specs.job",
    **{
        name: "kiln.errors"
        for name in (
            "AlreadyExists",
            "Conflict",
            "Forbidden",
            "InvalidSpec",
            "KilnError",
            "MissingExtra",
            "NotFound",
            "Unauthorized",
            "Unavailable",
        )
    },
}

if TYPE_CHECKING:
    from kiln.client import Client, Job
    from kiln.errors import (
        AlreadyExists,
        Conflict,
        Forbidden,
        InvalidSpec,
        KilnError,
        MissingExtra,
        NotFound,
        Unauthorized,
        Unavailable,
    )
    from kiln.specs.job import CommandJobSpec


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kiln' has no attribute {name!r}")
