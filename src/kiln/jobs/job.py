"""A job as the engine holds it: its row, its spec parsed once into its kind's class, its pins typed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from kiln.errors import InvalidSpec
from kiln.jobs.folders import JobFolder, JobFolders
from kiln.specs.job import ProcessJobSpec
from kiln.specs.job_kinds import parse_job_spec
from kiln.specs.pins import EnvironmentPin, InputPin, environment_pin, input_pins
from kiln.store.tables import JobRow


def process_spec(data: Any) -> ProcessJobSpec:
    """A stored or submitted job spec, parsed into its kind's class; InvalidSpec unless the engine runs that kind."""
    spec = data if isinstance(data, ProcessJobSpec) else parse_job_spec(data)
    if not isinstance(spec, ProcessJobSpec):
        raise InvalidSpec(
            f"type: '{getattr(spec, 'type', '?')}' jobs do not run a process, and the job engine runs only those"
        )
    return spec


@dataclass(frozen=True)
class Job:
    """What the engine and runners work with; its row is as it was read (``with_row`` for a fresh one)."""

    row: JobRow
    spec: ProcessJobSpec
    environment: EnvironmentPin
    inputs: dict[str, InputPin]
    folder: JobFolder

    @classmethod
    def of(cls, row: JobRow, folders: JobFolders, spec: ProcessJobSpec | None = None) -> Job:
        """The job of ``row`` (``spec``: already parsed from the same row)."""
        parsed = spec if spec is not None else process_spec(row.spec)
        return cls(row, parsed, environment_pin(row.environment), input_pins(row.pinned_inputs), folders.of(row.id))

    def with_row(self, row: JobRow) -> Job:
        """The same job as its row reads now (the spec is not parsed again: it never changes)."""
        return replace(
            self, row=row, environment=environment_pin(row.environment), inputs=input_pins(row.pinned_inputs)
        )

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def name(self) -> str:
        return self.row.name
