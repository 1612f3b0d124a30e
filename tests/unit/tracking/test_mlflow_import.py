"""MLflow's first import in the server, from several threads at once: each of the server's first users of MLflow
gets a whole package (a fresh interpreter each run: in this one MLflow is imported already)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# the server's possible first users of MLflow, all at once, each importing as its code does: the warm-up (the secret
# header), a job's launch (the run store), the fast /mlflow writes, a workspace import (which imported MLflow
# plainly and broke a server at stop 28), a request through the fluent API
FIRST_USERS = """\
    import sys, threading
    from kiln.tracking.mlflow_import import guard_first_import, import_mlflow
    from kiln.tracking.mlflow_secret import send_with_mlflow_client
    from kiln.tracking.run_store import open_sql_store

    assert "mlflow" not in sys.modules
    guard_first_import()  # as create_app does
    failures, start = [], threading.Barrier(5)

    def secret():
        send_with_mlflow_client()
        from mlflow.tracking import MlflowClient

    def store():
        open_sql_store(sys.argv[1])

    def fast_writes():
        import_mlflow()
        from mlflow.server import handlers
        from mlflow.protos.service_pb2 import LogMetric

    def workspace_import():
        from mlflow.tracking import MlflowClient
        from mlflow.entities import Metric

    def fluent():
        import mlflow
        from mlflow.models import Model

    def first(use):
        start.wait()
        try:
            use()
        except BaseException as exc:
            failures.append(f"{use.__name__}: {exc!r}")

    threads = [threading.Thread(target=first, args=(use,)) for use in (secret, store, fast_writes, workspace_import, fluent)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(failures)
    import builtins
    import mlflow
    from kiln.tracking import mlflow_import
    whole = hasattr(mlflow, "version") and hasattr(mlflow.tracking, "_get_store")
    sys.exit(1 if failures or not whole or builtins.__import__ is mlflow_import._guarded_import else 0)
"""


def test_the_servers_first_users_of_mlflow_import_it_whole_from_threads_at_once(tmp_path: Path) -> None:
    script = tmp_path / "first_users.py"
    script.write_text(textwrap.dedent(FIRST_USERS))
    for attempt in range(2):  # a race: more than one try to meet it
        database = f"sqlite:///{tmp_path / f'mlflow-{attempt}.db'}"
        done = subprocess.run([sys.executable, str(script), database], capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
