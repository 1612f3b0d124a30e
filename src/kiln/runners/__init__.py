"""Where jobs run: the job engine's runners, each an implementation of :class:`kiln.jobs.runner.Runner`.

:mod:`kiln.runners.local` runs a job as a process group on this machine; :mod:`kiln.runners.ray`
submits it to a registered Ray cluster. The engine never imports either: the wiring builds them
and ``kiln.services.computes.ComputeService`` hands the engine the one for each compute target.
"""
