"""The workspace server's MLflow client, made at first use and used only once MLflow's child answers.

The server starts MLflow's child in the background (``MlflowSupervisor.launch``), so the first call
of a service that needs MLflow may come before MLflow answers: each use first waits for it
(``ready``: bounded, a clear 503 when it is still starting or failed to start). Made at first use,
because importing MLflow's client (about a second of CPU) has no place on the start path of
``/health``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from kiln.errors import KilnError
from kiln.tracking.mlflow_secret import send_with_mlflow_client

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"  # MLflow's own names (a unit test checks them against MLflow's)
REGISTRY_URI_VARIABLE = "MLFLOW_REGISTRY_URI"


class _WhenReady:
    def __init__(self, make: Callable[[], MlflowClient], ready: Callable[[], None] | None) -> None:
        self._make = make
        self._ready = ready
        self._client: MlflowClient | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._ready is not None:
            self._ready()
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make()
                client = self._client
        return getattr(client, name)


def mlflow_client(
    tracking_uri: str, ready: Callable[[], None] | None = None, *, registry: bool = False
) -> MlflowClient:
    """MLflow's client for ``tracking_uri`` (and its registry with ``registry``: then the fluent API's URIs
    point there too, as ``mlflow.register_model`` reads them); each use waits for ``ready()`` first."""

    if registry:
        # the fluent API (register_model, download_artifacts of models:/…) reads these when nothing set its URIs:
        # what mlflow.set_tracking_uri and set_registry_uri set, without importing MLflow now
        os.environ[TRACKING_URI_VARIABLE] = os.environ[REGISTRY_URI_VARIABLE] = tracking_uri

    def make() -> MlflowClient:
        send_with_mlflow_client()  # the child answers only requests with the workspace server's secret
        from mlflow.tracking import MlflowClient

        if not registry:
            return MlflowClient(tracking_uri=tracking_uri)
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)  # as the variables say, and over an earlier set_tracking_uri
        mlflow.set_registry_uri(tracking_uri)
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    return cast("MlflowClient", _WhenReady(make, ready))


def warm_up_soon(ready: Callable[[], None], then: Callable[[], None] = lambda: None) -> None:
    """Import MLflow's client in a background thread once ``ready()`` returns (MLflow's child answers: the
    import does not take a core from its start), so that the first request that needs it does not pay for it;
    ``then()`` once it is imported (the server freezes what it loaded: kiln.serving.control.heap)."""

    def warm_up() -> None:
        try:
            ready()
        except KilnError:
            return  # MLflow did not start: nothing will use its client
        send_with_mlflow_client()  # imports MLflow's package first, one thread at a time
        import mlflow.server.handlers  # noqa: F401  (what /mlflow's fast writes validate with: kiln.tracking.fast_writes)
        import mlflow.tracking  # noqa: F401

        then()

    threading.Thread(target=warm_up, name="mlflow-client-import", daemon=True).start()
