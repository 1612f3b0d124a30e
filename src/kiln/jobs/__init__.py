"""The job engine: queue, claim, prepare, launch, observe, cancel, finish and re-adopt jobs, written once.

Where a job runs is a :class:`kiln.jobs.runner.Runner` (local processes, a Ray cluster),
handed to the engine by the wiring in a directory by compute name; the engine imports no
concrete runner. What differs per kind of job is a :class:`kiln.jobs.handler.JobHandler`,
found through the job-kind registry (:mod:`kiln.specs.job_kinds`).

This package's ``__init__`` stays empty: the local job shim imports :mod:`kiln.jobs.folders`
and must start fast.
"""
