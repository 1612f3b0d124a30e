"""``kiln.Client``: the Python SDK. The CLI is a thin layer over it.

With no arguments it connects to the embedded local workspace in KILN_HOME and starts its
server in the background if needed; inside a job it connects to the job's workspace
(``KILN_URL`` / ``KILN_TOKEN``). After ``kiln login URL`` it connects to that workspace with
the stored token, unless ``KILN_URL`` names another or ``KILN_HOME`` is set.
"""

from __future__ import annotations

import os
from pathlib import Path

from kiln.config import Settings
from kiln.sdk.computes import ComputeOperations
from kiln.sdk.data import DataOperations
from kiln.sdk.datastores import DatastoreOperations
from kiln.sdk.endpoints import OnlineDeploymentOperations, OnlineEndpointOperations
from kiln.sdk.environments import EnvironmentOperations
from kiln.sdk.jobs import Job, JobOperations
from kiln.sdk.login import read_login, same_workspace
from kiln.sdk.models import ModelOperations
from kiln.sdk.rest import RestClient
from kiln.sdk.users import UserOperations
from kiln.sdk.workspace import WorkspaceOperations

__all__ = ["Client", "Job"]


class Client:
    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        home: str | Path | None = None,
        *,
        announce_start: bool = False,
    ) -> None:
        url = url or os.environ.get("KILN_URL")
        token = token or os.environ.get("KILN_TOKEN")
        if token is None and (url is not None or (home is None and not os.environ.get("KILN_HOME"))):
            url, token = _with_stored_login(url)
        if url is None:
            from kiln.server.process import ensure_server

            settings = Settings.load(home=home)
            url = ensure_server(settings, quiet=not announce_start).url
            if token is None and settings.token_file.exists():
                token = settings.token_file.read_text().strip()
        self.url = url.rstrip("/")
        self._rest = RestClient(self.url, token)
        self.jobs = JobOperations(self._rest)
        self.environments = EnvironmentOperations(self._rest)
        self.data = DataOperations(self._rest)
        self.models = ModelOperations(self._rest)
        self.online_endpoints = OnlineEndpointOperations(self._rest)
        self.online_deployments = OnlineDeploymentOperations(self._rest)
        self.computes = ComputeOperations(self._rest)
        self.datastores = DatastoreOperations(self._rest)
        self.users = UserOperations(self._rest)
        self.workspace = WorkspaceOperations(self._rest)

    @property
    def tracking_uri(self) -> str:
        """Point ``MLFLOW_TRACKING_URI`` here (with ``MLFLOW_TRACKING_TOKEN``) to use the real mlflow client."""
        return f"{self.url}/mlflow"

    def close(self) -> None:
        self._rest.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _with_stored_login(url: str | None) -> tuple[str | None, str | None]:
    """``kiln login``'s workspace and token: used when no URL is given, or its token for the same URL."""
    stored = read_login()
    if stored is None or (url is not None and not same_workspace(url, stored.url)):
        return url, None
    return stored.url if url is None else url, stored.token
