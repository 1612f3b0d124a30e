"""The ``Runner`` protocol: what the job engine needs from a place jobs run (local processes, a Ray cluster).

The engine claims a runner's queued jobs (``plan_starts``), prepares each job's folder and
variables itself, asks the runner to prepare the environment and ``launch``, then polls the
``Run`` until it ends, stopping it on a cancel or at ``limits.timeout``, and asks it how the
run ended (``finish``). After a restart it asks the runner to ``adopt`` each job it had. The
engine records everything on the job's row; a runner only reports (and records, through
``record``, what it must before its launch returns, e.g. a Ray submission id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from kiln.jobs.job import Job
from kiln.jobs.outcome import Outcome
from kiln.specs.job import Problem, ProcessJobSpec
from kiln.specs.pins import EnvironmentPin


class RunState(StrEnum):
    PENDING = "pending"  # accepted by the target, not running yet (a cluster's own queue)
    RUNNING = "running"
    ENDED = "ended"


@dataclass(frozen=True)
class Room:
    """What this server's active jobs on a target leave free when queued jobs are chosen."""

    free_slots: int | None  # None: the target has no slot limit (it queues what does not fit itself)
    gpus_held: frozenset[str] = frozenset()


@dataclass
class StartPlan:
    """Which queued jobs start now (with the fields recorded on each when it is claimed), which are refused."""

    starts: list[tuple[Job, dict[str, Any]]] = field(default_factory=list)
    refused: list[tuple[Job, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Prepared:
    """What a job's process runs with on the target."""

    environment: EnvironmentPin  # as prepared: recorded with the job (reruns, lineage)
    bin_dir: Path  # first on the process's PATH
    logs_dir: Path  # ./logs (TensorBoard's folder) as the process sees it


@dataclass(frozen=True)
class Ending:
    """What the engine knows when a run has ended."""

    canceled: bool  # the user asked to cancel the job (here or through another server)
    timed_out: bool  # the engine stopped it at limits.timeout
    timeout: int | None  # limits.timeout, seconds


class RecordFields(Protocol):
    def __call__(self, **fields: Any) -> None:
        """Set columns of the job's row (e.g. ``submission_id``), at once."""
        ...


class Run(Protocol):
    """One launched (or adopted) job on its target."""

    def poll(self, wait: float) -> RunState:
        """The run's state, after waiting up to ``wait`` seconds for it to end (0: at once)."""
        ...

    def stop(self) -> None:
        """Ask the run to end (cancel, timeout); returns at once, ``poll`` then sees it end."""
        ...

    def finish(self, ending: Ending) -> Outcome:
        """After ``poll`` said ENDED: bring what the job left back to its folder (log, ./outputs, ./logs)
        and say how it ended."""
        ...


class Runner(Protocol):
    """One compute target."""

    slots: int | None  # how many of this server's jobs may be active on it at once; None: no limit
    poll_seconds: float  # how often a run is polled
    # whether the job's processes see this server's disk (its job folders); if not, the inputs a kind reads by URL
    # (its handler's ``url_inputs``) reach them as signed URLs (kiln.jobs.input_manifest), not as copies
    shares_disk: bool

    def problems(self, spec: ProcessJobSpec) -> list[Problem]:
        """What in ``spec`` this target cannot run, each with its field and how to fix it (checked at submit)."""
        ...

    def plan_starts(self, queued: Sequence[Job], room: Room) -> StartPlan:
        """Of the queued jobs (oldest first), those that start now, and those this target can never run."""
        ...

    def prepare(self, job: Job) -> Prepared:
        """Make the job's environment ready on the target (progress goes to the job's log)."""
        ...

    def launch(self, job: Job, command: str, variables: dict[str, str], record: RecordFields) -> Run:
        """Start the job's process (its folder is in place) with ``command`` and exactly ``variables``."""
        ...

    def adopt(self, job: Job) -> Run | Outcome | None:
        """After a restart, a job this server had: a ``Run`` to watch again, an ``Outcome`` to finish it
        with as it is, or None to queue it again (it never really started)."""
        ...


class Runners(Protocol):
    """The compute targets jobs may name, each with its runner (the wiring knows which exist)."""

    def compute_names(self) -> list[str]: ...

    def runner(self, compute: str) -> Runner | None:
        """The target's runner; None if no such target is registered (any more)."""
        ...
