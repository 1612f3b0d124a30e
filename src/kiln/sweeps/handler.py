"""The job engine's part of ``type: sweep``: only its summary. A sweep runs no process: the workspace server's
sweep loop (``kiln.sweeps.service``) runs it, and its trials are command jobs the engine runs as any other."""

from __future__ import annotations

from kiln.errors import InvalidSpec
from kiln.jobs.handler import ReferenceValues
from kiln.sweeps.sampling import total_trials
from kiln.sweeps.spec import SweepJobSpec


class SweepHandler:
    def command_line(self, spec: SweepJobSpec, values: ReferenceValues) -> str:
        raise InvalidSpec("a sweep job runs no process of its own: its trials are the jobs that run")

    def summary(self, spec: SweepJobSpec) -> str:
        objective = spec.objective
        return (
            f"sweep ({spec.sampling().type}, {total_trials(spec)} trials) of {', '.join(spec.search_space)}: "
            f"{objective.goal} {objective.primary_metric}; trial: {spec.trial_summary()}"
        )
