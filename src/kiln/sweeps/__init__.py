"""Hyperparameter sweeps: Azure ML's ``type: sweep`` job files, unchanged.

- ``spec``: the job file (search space, sampling, objective, early termination, limits) and its checks;
- ``sampling``: each trial's parameters (random, Sobol, grid; bayesian on Optuna's TPE sampler);
- ``early_termination``: bandit, median stopping and truncation selection, as trials log;
- ``handler``: the engine's side (a summary: a sweep runs no process);
- ``service``: the server's sweep loop: trials are child jobs (tag ``kiln.parent``) and nested MLflow runs
  (``mlflow.parentRunId``); the best trial is recorded on the sweep's run (``best_child_run_id``);
- ``studio``, ``charts``: kiln studio's sweeps list and a sweep's trials, best trial and charts in its job page.
"""

from __future__ import annotations

from kiln.capabilities import Capability
from kiln.specs.job_kinds import JobKind

CAPABILITY = Capability(
    name="sweeps",
    summary="hyperparameter sweeps (type: sweep): trials as child jobs, Optuna's samplers, early termination",
    extra="sweeps",
    modules=("optuna",),
    service="kiln.sweeps.service:SweepService",
    job_kinds=(
        JobKind(
            "sweep",
            spec="kiln.sweeps.spec:SweepJobSpec",
            handler="kiln.sweeps.handler:SweepHandler",
            description="a hyperparameter sweep: trials of a command job over a search space (Azure ML's sweep job)",
            runs_in_server=True,
        ),
    ),
    studio_pages="kiln.sweeps.studio:PAGES",
)

__all__ = ["CAPABILITY"]
