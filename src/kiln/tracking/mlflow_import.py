"""MLflow's first import in the workspace server, one thread at a time.

The server imports MLflow lazily, off the start path of ``/health``: its warm-up thread, a job's launch (its run
marked running), a job's close, a request, a workspace import and the fast ``/mlflow`` writes may each be first.
MLflow's package imports itself in a circle (``mlflow`` ↔ ``mlflow.tracking`` ↔ ``mlflow.store``), and two threads
importing it at once meet in that circle: Python raises ``_DeadlockError`` in one, or hands it a half-made module,
and what was half imported stays broken for the life of the process (every later MLflow call of the server fails).
Once the package itself is imported whole, its submodules import safely from any thread.

So the server guards every import statement until then (:func:`guard_first_import`, from ``create_app``): the first
``import mlflow…`` of any thread, in kiln's code or in a module it imports, runs :func:`import_mlflow`, which imports
the package whole in that thread while the others wait. The guard then takes itself out: later imports cost nothing.
A list of the server's first users, each calling :func:`import_mlflow`, missed one (the workspace import's, stop 28);
the guard needs no list. It does not see ``importlib.import_module``, which kiln's server does not use on MLflow.
"""

from __future__ import annotations

import builtins
import sys
import threading
from typing import Any

_lock = threading.Lock()
_imported = threading.Event()
_importing_thread: int | None = None  # the thread in import_mlflow's `import mlflow`: its own imports pass
_plain_import = builtins.__import__


def import_mlflow() -> None:
    """Returns once MLflow's package is imported whole: the first caller imports it, the others wait for it."""
    global _importing_thread
    if _imported.is_set():
        return
    with _lock:
        if not _imported.is_set():
            _importing_thread = threading.get_ident()
            try:
                import mlflow  # noqa: F401
            finally:
                _importing_thread = None
            _imported.set()
            if builtins.__import__ is _guarded_import:
                builtins.__import__ = _plain_import


def mlflow_imported() -> bool:
    """Whether MLflow's package is imported already (then :func:`import_mlflow` returns at once)."""
    return _imported.is_set()


def guard_first_import() -> None:
    """Until MLflow is imported, every thread's ``import mlflow…`` goes through :func:`import_mlflow` (a no-op in a
    process that imported MLflow already)."""
    if "mlflow" in sys.modules:
        _imported.set()
    elif not _imported.is_set():
        builtins.__import__ = _guarded_import


def _guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:  # noqa: A002 - __import__'s own parameter names
    if (
        level == 0
        and (name == "mlflow" or name.startswith("mlflow."))
        and not _imported.is_set()
        and _importing_thread != threading.get_ident()
    ):
        import_mlflow()
    return _plain_import(name, globals, locals, fromlist, level)
