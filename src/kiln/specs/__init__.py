"""Pydantic models that are at once YAML schema, REST body, SDK argument and stored JSON.

The names below are loaded on first use: importing one small module of this package (``yaml_source``,
``job_kinds``) does not build every job model (the CLI's start-up is measured in milliseconds)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["CommandJobSpec", "JobInput", "JobLimits", "JobOutput"]

if TYPE_CHECKING:
    from kiln.specs.job import CommandJobSpec, JobInput, JobLimits, JobOutput


def __getattr__(name: str) -> Any:
    if name in __all__:
        from kiln.specs import job

        return getattr(job, name)
    raise AttributeError(f"module 'kiln.specs' has no attribute {name!r}")
