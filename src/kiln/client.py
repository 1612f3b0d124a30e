"""``kiln.Client``: the Python SDK. The CLI is a thin layer over it.

With no arguments it connects to the embedded local workspace in KILN_HOME and starts its
server in the background if needed; inside a job it connects to the job's workspace
(``KILN_URL`` / ``KILN_TOKEN``). After ``kiln login URL`` it connects to that workspace with
the stored token, unless ``KILN_URL`` names another or ``KILN_HOME`` is set.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.sdk.login import read_login, same_workspace

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kiln.batch.sdk import BatchDeploymentOperations, BatchEndpointOperations
    from kiln.pipelines.sdk import ComponentOperations
    from kiln.privacy.sdk import PrivacyOperations
    from kiln.schedules.sdk import ScheduleOperations
    from kiln.sdk.audit import AuditOperations
    from kiln.sdk.computes import ComputeOperations
    from kiln.sdk.data import DataOperations
    from kiln.sdk.datastores import DatastoreOperations
    from kiln.sdk.endpoints import OnlineDeploymentOperations, OnlineEndpointOperations
    from kiln.sdk.environments import EnvironmentOperations
    from kiln.sdk.job_rows import JobRow
    from kiln.sdk.jobs import Job, JobOperations
    from kiln.sdk.models import ModelOperations
    from kiln.sdk.rest import RestClient
    from kiln.sdk.users import UserOperations
    from kiln.sdk.workspace import WorkspaceOperations
    from kiln.specs.job_status import JobStatus

__all__ = ["Client", "Job"]


def __getattr__(name: str) -> Any:
    if name == "Job":  # kiln.Job, loaded on first use as the operations are
        from kiln.sdk.jobs import Job

        return Job
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
            from kiln.config import Settings
            from kiln.server.process import ensure_server

            settings = Settings.load(home=home)
            url = ensure_server(settings, quiet=not announce_start).url
            if token is None and settings.token_file.exists():
                token = settings.token_file.read_text().strip()
        self.url = url.rstrip("/")
        self._token = token

    # Each resource's operations, its module imported on first use: a command that lists jobs does not
    # import what uploads data or deploys endpoints (the CLI's start-up is measured in milliseconds).
    @cached_property
    def _rest(self) -> RestClient:
        from kiln.sdk.rest import RestClient

        return RestClient(self.url, self._token)

    @property
    def rest(self) -> RestClient:
        """The REST client itself: how a capability's front door (``kiln rai``…) calls its own operations."""
        return self._rest

    @cached_property
    def jobs(self) -> JobOperations:
        from kiln.sdk.jobs import JobOperations

        return JobOperations(self._rest)

    @cached_property
    def environments(self) -> EnvironmentOperations:
        from kiln.sdk.environments import EnvironmentOperations

        return EnvironmentOperations(self._rest)

    @cached_property
    def data(self) -> DataOperations:
        from kiln.sdk.data import DataOperations

        return DataOperations(self._rest)

    @cached_property
    def models(self) -> ModelOperations:
        from kiln.sdk.models import ModelOperations

        return ModelOperations(self._rest)

    @cached_property
    def online_endpoints(self) -> OnlineEndpointOperations:
        from kiln.sdk.endpoints import OnlineEndpointOperations

        return OnlineEndpointOperations(self._rest)

    @cached_property
    def online_deployments(self) -> OnlineDeploymentOperations:
        from kiln.sdk.endpoints import OnlineDeploymentOperations

        return OnlineDeploymentOperations(self._rest)

    @cached_property
    def computes(self) -> ComputeOperations:
        from kiln.sdk.computes import ComputeOperations

        return ComputeOperations(self._rest)

    @cached_property
    def datastores(self) -> DatastoreOperations:
        from kiln.sdk.datastores import DatastoreOperations

        return DatastoreOperations(self._rest)

    @cached_property
    def audit(self) -> AuditOperations:
        from kiln.sdk.audit import AuditOperations

        return AuditOperations(self._rest)

    @cached_property
    def users(self) -> UserOperations:
        from kiln.sdk.users import UserOperations

        return UserOperations(self._rest)

    @cached_property
    def components(self) -> ComponentOperations:
        """Command components, versioned in the workspace (the pipelines capability)."""
        from kiln.pipelines.sdk import ComponentOperations

        return ComponentOperations(self._rest)

    @cached_property
    def privacy(self) -> PrivacyOperations:
        """DP queries and privacy budgets of private data versions (the privacy capability)."""
        from kiln.privacy.sdk import PrivacyOperations

        return PrivacyOperations(self._rest)

    @cached_property
    def schedules(self) -> ScheduleOperations:
        """Jobs submitted on a cron or recurrence timetable by the workspace server (the schedules capability)."""
        from kiln.schedules.sdk import ScheduleOperations

        return ScheduleOperations(self._rest)

    @cached_property
    def batch_endpoints(self) -> BatchEndpointOperations:
        """Batch endpoints: create, list, invoke (a batch_scoring job), their jobs (the batch capability)."""
        from kiln.batch.sdk import BatchEndpointOperations

        return BatchEndpointOperations(self._rest)

    @cached_property
    def batch_deployments(self) -> BatchDeploymentOperations:
        """Deployments of models behind batch endpoints (the batch capability)."""
        from kiln.batch.sdk import BatchDeploymentOperations

        return BatchDeploymentOperations(self._rest)

    @cached_property
    def workspace(self) -> WorkspaceOperations:
        from kiln.sdk.workspace import WorkspaceOperations

        return WorkspaceOperations(self._rest)

    def job_rows(
        self, status: JobStatus | str | None = None, limit: int = 100, tags: Mapping[str, str | None] | None = None
    ) -> list[JobRow]:
        """The newest ``limit`` jobs as plain rows: the fields a job list shows, read without pydantic
        (``kiln.sdk.job_rows``); ``jobs.list`` gives the whole, validated views. ``tags`` as ``jobs.list``'s."""
        from kiln.sdk.job_rows import list_job_rows

        return list_job_rows(self._rest, status, limit, tags)

    @property
    def tracking_uri(self) -> str:
        """Point ``MLFLOW_TRACKING_URI`` here (with ``MLFLOW_TRACKING_TOKEN``) to use the real mlflow client."""
        return f"{self.url}/mlflow"

    def close(self) -> None:
        if "_rest" in self.__dict__:  # nothing to close when no operation was used
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
