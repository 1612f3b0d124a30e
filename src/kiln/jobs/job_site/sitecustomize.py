"""Keeps every Python process of a kiln job on the job's own MLflow run.

MLflow reads ``MLFLOW_RUN_ID`` once and deletes it; after the first ``end_run`` (which
autologging does after each ``fit``) a later ``mlflow.log_metric`` would open a second,
stray run. Once ``mlflow.tracking.fluent`` is imported (never before: this costs nothing
for jobs that do not use MLflow), ``end_run`` is wrapped to hand the job's run id back,
so the next ``start_run()`` resumes the job's run. Explicit ``start_run(run_id=…)`` and
nested runs behave as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

_RUN_ID = os.environ.get("KILN_JOB_ID")


class _ResumeJobRun(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name != "mlflow.tracking.fluent":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):  # type: ignore[no-untyped-def]
            execute(module)
            _wrap_end_run(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _wrap_end_run(fluent) -> None:  # type: ignore[no-untyped-def]
    original = fluent.end_run

    def end_run(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = original(*args, **kwargs)
        if not fluent._active_run_stack.get():
            os.environ["MLFLOW_RUN_ID"] = _RUN_ID or ""
        return result

    end_run.__doc__ = original.__doc__
    end_run.__wrapped__ = original  # type: ignore[attr-defined]
    fluent.end_run = end_run


if _RUN_ID:
    sys.meta_path.insert(0, _ResumeJobRun())

# A sitecustomize further down the path (the environment's own) still runs.
_here = os.path.dirname(os.path.abspath(__file__))
for _entry in sys.path:
    if os.path.abspath(_entry or ".") != _here and os.path.isfile(os.path.join(_entry or ".", "sitecustomize.py")):
        _spec = importlib.util.spec_from_file_location(
            "_kiln_next_sitecustomize", os.path.join(_entry, "sitecustomize.py")
        )
        if _spec and _spec.loader:
            _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
        break
