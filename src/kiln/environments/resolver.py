"""What jobs and deployment replicas need from environments: pin one at submit, prepare it before a process starts.

``kiln.services.environments.EnvironmentService`` implements it; the job engine's local
runner and the replica launcher are given it, never the service itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kiln.specs.environment import EnvironmentSpec
from kiln.specs.pins import EnvironmentPin


@dataclass
class PreparedEnvironment:
    """The interpreter a process runs with, and the exact packages it had (for reruns and lineage)."""

    bin_dir: Path
    pin: EnvironmentPin


class EnvironmentResolver(Protocol):
    def pin_environment(self, environment: str | EnvironmentSpec | dict[str, Any] | None) -> EnvironmentPin:
        """At submit: check an ``environment`` field (InvalidSpec naming it if wrong); return an exact record."""
        ...

    def prepare(self, pin: EnvironmentPin, log: Path) -> PreparedEnvironment:
        """Before the process starts: build or reuse the environment, writing progress to ``log`` (in the job's
        folder; a job on the server's own interpreter gets a venv of its own there)."""
        ...
