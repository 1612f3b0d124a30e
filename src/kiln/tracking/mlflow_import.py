"""MLflow's first import in the workspace server, one thread at a time.

The server imports MLflow lazily, off the start path of ``/health``: its warm-up thread, a job's launch (its run
marked running), a job's close, a request and the fast ``/mlflow`` writes may each be first. MLflow's package
imports itself in a circle (``mlflow`` ↔ ``mlflow.tracking`` ↔ ``mlflow.store``), and two threads importing it
at once meet in that circle: Python raises ``_DeadlockError`` in one, or hands it a half-made module, and what was
half imported stays broken for the life of the process (every later MLflow call of the server fails). Once the
package itself is imported whole, its submodules import safely from any thread.

So every server-side path that may be MLflow's first user calls :func:`import_mlflow` before its own imports.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_imported = threading.Event()


def import_mlflow() -> None:
    """Returns once MLflow's package is imported whole: the first caller imports it, the others wait for it."""
    if _imported.is_set():
        return
    with _lock:
        if not _imported.is_set():
            import mlflow  # noqa: F401

            _imported.set()


def mlflow_imported() -> bool:
    """Whether MLflow's package is imported already (then :func:`import_mlflow` returns at once)."""
    return _imported.is_set()
