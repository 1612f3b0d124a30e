"""Pydantic models that are at once YAML schema, REST body, SDK argument and stored JSON."""

from kiln.specs.job import CommandJobSpec, JobInput, JobLimits, JobOutput

__all__ = ["CommandJobSpec", "JobInput", "JobLimits", "JobOutput"]
