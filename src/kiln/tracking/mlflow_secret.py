"""The secret by which MLflow's child knows the workspace server (``kiln.internal_secret``).

One per server process, made at first use: ``MlflowSupervisor`` hands it to every MLflow process
it starts, the ``/mlflow`` proxy adds it to what it forwards, and the server's own MLflow client
(``RunTracker``, ``ModelRegistry``, export and import) sends it through MLflow's request-header
plug-in interface, installed once per process by ``send_with_mlflow_client``. Per process, not
per supervisor, because MLflow's client settings are per process: two workspaces in one Python
process (as tests make) share it. The server's MLflow client talks to nothing but its own child,
so the header goes nowhere else.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from kiln.internal_secret import HEADER_NAME, new_secret


@functools.cache
def process_secret() -> str:
    return new_secret()


_installing = threading.Lock()
_installed: list[bool] = []


def send_with_mlflow_client() -> None:
    """From now on every request of MLflow's Python client in this process carries the secret.

    Once per process, under a lock: threads may ask at once (the server's first MLflow calls, its warm-up), and
    MLflow joins the values of a header that two providers give ("secret secret": refused)."""
    with _installing:
        if not _installed:
            _install()
            _installed.append(True)


def _install() -> None:
    from mlflow.tracking.request_header.abstract_request_header_provider import RequestHeaderProvider
    from mlflow.tracking.request_header.registry import _request_header_provider_registry

    class WorkspaceSecretHeader(RequestHeaderProvider):
        def in_context(self) -> bool:
            return True

        def request_headers(self) -> dict[str, str]:
            return {HEADER_NAME: process_secret()}

    registry: Any = _request_header_provider_registry  # MLflow's plug-in registry; its entry points fill it too
    registry.register(WorkspaceSecretHeader)
