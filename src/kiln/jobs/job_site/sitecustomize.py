"""Keeps every Python process of a kiln job on the job's own MLflow run, logging asynchronously; on local
compute, a Ray instance the job starts stays private to it (``_private_ray``).

MLflow reads ``MLFLOW_RUN_ID`` once and deletes it; after the first ``end_run`` (which
autologging does after each ``fit``) a later ``mlflow.log_metric`` would open a second,
stray run. Once ``mlflow.tracking.fluent`` is imported (never before: this costs nothing
for jobs that do not use MLflow), ``end_run`` is wrapped to hand the job's run id back,
so the next ``start_run()`` resumes the job's run. Explicit ``start_run(run_id=…)`` and
nested runs behave as usual.

A model logged with no active run (``mlflow.sklearn.log_model(...)`` outside ``start_run``)
would belong to no run in MLflow 3, so ``runs:/<job>/<name>`` would not find it; once
``mlflow.models.model`` is imported, ``Model.log`` gets the job's run when no run is active and
none is named, as Azure ML attaches what a job logs to the job's run.

MLflow's asynchronous logging is on unless the job's environment says otherwise
(``MLFLOW_ENABLE_ASYNC_LOGGING=false``): ``log_metric`` and friends return at once and a thread
sends them. MLflow flushes that queue at interpreter exit (``atexit``), before the process ends
and so before kiln marks the job completed; ``mlflow.flush_async_logging()`` flushes it at any
time (what is flushed is committed: the workspace answers a write after its commit), so a job
killed after its last flush loses nothing. MLflow's own exit flush comes too late (see
``_drain_before_thread_pools_stop``); each queue is drained as the main thread ends instead. A job
killed before flushing loses what was still queued.

This runs in every Python process of a job before the job's first line: it imports nothing beyond what Python's
start has imported (``os``, ``sys``); ``importlib.util`` when a patch or another ``sitecustomize`` needs it.
(``importlib.abc`` alone, for a base class a finder does not need, imports ``importlib.resources``, ``pathlib``,
``tempfile``, ``re`` and ``typing``: tens of milliseconds of every job's start.)
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from collections.abc import Callable
    from types import ModuleType

_RUN_ID = os.environ.get("KILN_JOB_ID")
_RAY_TEMP_DIR = os.environ.get("KILN_RAY_TEMP_DIR")  # local compute: Ray in a job is private to it


class _PatchOnImport:
    """Runs ``patches[name](module)`` right after the module ``name`` (MLflow's, Ray's) is first imported (a finder on
    ``sys.meta_path``: ``find_spec`` is all the import system asks of one)."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self._patches = dict(patches)

    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        patch = self._patches.pop(name, None)
        if patch is None:
            return None
        if not self._patches:
            sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):  # type: ignore[no-untyped-def]
            execute(module)
            patch(module)

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


def _drain_before_thread_pools_stop(queue_module) -> None:  # type: ignore[no-untyped-def]
    """MLflow drains its async logging queue in an ``atexit`` callback, which runs after Python has
    stopped the thread pools that send the queue's batches ("cannot schedule new futures after
    interpreter shutdown"): the last batches of a job were lost. Each queue, once active, is drained
    first, as the main thread ends (``threading._register_atexit`` runs before those pools stop)."""
    import threading

    queue_class = queue_module.AsyncLoggingQueue
    original = queue_class.activate

    def activate(self):  # type: ignore[no-untyped-def]
        original(self)
        if not getattr(self, "_kiln_drained_at_exit", False):
            self._kiln_drained_at_exit = True
            threading._register_atexit(_drain, self)  # type: ignore[attr-defined]

    activate.__doc__ = original.__doc__
    activate.__wrapped__ = original  # type: ignore[attr-defined]
    queue_class.activate = activate


def _drain(queue) -> None:  # type: ignore[no-untyped-def]
    if queue.is_active():
        queue.shut_down_async_logging()


def _log_models_in_job_run(model_module) -> None:  # type: ignore[no-untyped-def]
    model_class = model_module.Model
    original = model_class.log.__func__

    def log(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("run_id") is None and len(args) < _RUN_ID_POSITION:
            import mlflow

            if mlflow.active_run() is None:
                kwargs["run_id"] = _RUN_ID
        return original(cls, *args, **kwargs)

    log.__doc__ = original.__doc__
    log.__wrapped__ = original  # type: ignore[attr-defined]
    model_class.log = classmethod(log)


def _private_ray(worker) -> None:  # type: ignore[no-untyped-def]
    """A job on local compute that starts Ray (``ray.init()``, or ``address="local"``) gets a private instance
    (DESIGN.md §8): bound to 127.0.0.1 (its dashboard too, when asked for one: none by default), at most the CPUs
    the job may run on, its temp folder inside the job's folder (``KILN_RAY_TEMP_DIR``, set by the local runner).
    A Ray cluster named by address (``ray.init("ray://…")``, ``RAY_ADDRESS``) is joined as Ray does. Ray's
    processes are the job's: ``ray.init`` ends them at exit, a cancel or timeout ends the job's whole tree."""
    original = worker.init

    def init(address=None, **options):  # type: ignore[no-untyped-def]
        named = address if address not in (None, "auto") else os.environ.get("RAY_ADDRESS") or None
        if named in (None, "local"):
            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            address = "local"
            asked = options.get("num_cpus")
            options["num_cpus"] = cpus if asked is None else min(asked, cpus)
            options.setdefault("include_dashboard", False)
            options.setdefault("_temp_dir", _short_ray_temp_dir(_RAY_TEMP_DIR or ""))
            options.update(_node_ip_address="127.0.0.1", dashboard_host="127.0.0.1")
        return original(address, **options)

    init.__doc__ = original.__doc__
    init.__wrapped__ = original  # type: ignore[attr-defined]
    worker.init = init


# Ray's sockets are TEMP/session_<date>_<pid>/sockets/plasma_store: 64 bytes after TEMP, and a socket path has at
# most 107
_RAY_TEMP_ROOM = 107 - 64


def _short_ray_temp_dir(folder: str) -> str:
    """``folder`` (made), or a short link to it in ``/tmp`` (removed at exit) when Ray's sockets would not fit."""
    os.makedirs(folder, exist_ok=True)
    if len(folder.encode()) <= _RAY_TEMP_ROOM:
        return folder
    import atexit
    import tempfile

    short = tempfile.mkdtemp(prefix="kiln-ray-", dir="/tmp")
    os.symlink(folder, os.path.join(short, "r"))
    atexit.register(_end_ray_and_remove, short)
    return os.path.join(short, "r")


def _end_ray_and_remove(short: str) -> None:
    """Ray's exit handler (registered when Ray is imported, so it runs after this one) would write below ``short``
    again (its spill folder): Ray is shut down first."""
    import shutil

    ray = sys.modules.get("ray")
    if ray is not None:
        ray.shutdown()
    shutil.rmtree(short, ignore_errors=True)


# Model.log(cls, artifact_path, flavor, registered_model_name, await_registration_for, metadata, run_id, ...):
# run_id is the sixth argument after cls
_RUN_ID_POSITION = 6

if _RUN_ID:
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
    sys.meta_path.insert(
        0,
        _PatchOnImport(
            {
                "mlflow.tracking.fluent": _wrap_end_run,
                "mlflow.models.model": _log_models_in_job_run,
                "mlflow.utils.async_logging.async_logging_queue": _drain_before_thread_pools_stop,
                **({"ray._private.worker": _private_ray} if _RAY_TEMP_DIR else {}),
            }
        ),
    )

# A sitecustomize further down the path (the environment's own) still runs.
_here = os.path.dirname(os.path.abspath(__file__))
for _entry in sys.path:
    if os.path.abspath(_entry or ".") != _here and os.path.isfile(os.path.join(_entry or ".", "sitecustomize.py")):
        import importlib.util

        _spec = importlib.util.spec_from_file_location(
            "_kiln_next_sitecustomize", os.path.join(_entry, "sitecustomize.py")
        )
        if _spec and _spec.loader:
            _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
        break
