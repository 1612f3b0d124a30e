"""One Ray cluster, reached only through its dashboard: the Jobs API for jobs, its REST API for capacity.

The workspace server never joins a cluster (no ``ray.init``): it submits, watches and stops
jobs over HTTP with ``ray.job_submission.JobSubmissionClient``, and reads nodes and resource
use from the dashboard's REST API. ``ray`` is imported on first use only, with usage stats
off, so ``import kiln`` stays light and a workspace without the ``ray`` extra still starts.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from kiln.errors import KilnError, Unavailable
from kiln.extras import require_extra
from kiln.processes import QUIET_ENVIRONMENT

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

TERMINAL_RAY_STATUSES = ("SUCCEEDED", "FAILED", "STOPPED")
HTTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class RayJobState:
    status: str  # PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED
    message: str
    exit_code: int | None

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_RAY_STATUSES


@dataclass(frozen=True)
class ClusterUse:
    nodes: int
    cpus: float
    cpus_used: float | None
    gpus: float
    gpus_used: float | None
    memory_bytes: int | None
    memory_used_bytes: int | None


def quiet_ray() -> None:
    """Before kiln imports ray: no usage stats (DESIGN.md §8)."""
    for key, value in QUIET_ENVIRONMENT.items():
        if key.startswith("RAY_"):
            os.environ.setdefault(key, value)


def job_client_class() -> type[JobSubmissionClient]:
    """Ray's Jobs API client (MissingExtra naming the ``ray`` extra when Ray is missing)."""
    quiet_ray()
    job_submission = require_extra("ray", "ray.job_submission", needed_by="Ray compute on the workspace server")
    client_class: type[JobSubmissionClient] = job_submission.JobSubmissionClient
    return client_class


class RayCluster:
    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.address = address.rstrip("/")
        self._client: JobSubmissionClient | None = None
        self._lock = threading.Lock()

    def _unreachable(self, exc: BaseException) -> Unavailable:
        return Unavailable(
            f"cannot reach Ray cluster '{self.name}' at {self.address}: {exc} (is the head node up, with its "
            "dashboard listening there? ray start --head --dashboard-host=... starts it; kiln compute show "
            f"-n {self.name} checks it)"
        )

    def jobs(self) -> JobSubmissionClient:
        """The Jobs API client, made on first use (it checks the cluster's Ray version)."""
        with self._lock:
            if self._client is None:
                client_class = job_client_class()
                try:
                    self._client = client_class(self.address)
                except (OSError, RuntimeError) as exc:
                    raise self._unreachable(exc) from None
            return self._client

    # Jobs -------------------------------------------------------------------------------------
    def submit(
        self, submission_id: str, entrypoint: str, runtime_env: dict[str, Any], *,
        num_cpus: float, num_gpus: float, metadata: dict[str, str],
    ) -> None:  # fmt: skip
        try:
            self.jobs().submit_job(
                entrypoint=entrypoint, submission_id=submission_id, runtime_env=runtime_env, metadata=metadata,
                entrypoint_num_cpus=num_cpus, entrypoint_num_gpus=num_gpus,
            )  # fmt: skip
        except OSError as exc:  # requests' connection errors among them
            raise self._unreachable(exc) from None
        except RuntimeError as exc:  # the Jobs API answered with an error
            raise KilnError(f"Ray cluster '{self.name}' refused the job: {exc}") from None

    def state(self, submission_id: str) -> RayJobState | None:
        """The job's state on the cluster; None if the cluster does not know it."""
        try:
            info = self.jobs().get_job_info(submission_id)
        except RuntimeError as exc:
            if "404" in str(exc) or "does not exist" in str(exc):
                return None
            raise
        return RayJobState(str(info.status.value), info.message or "", info.driver_exit_code)

    def logs(self, submission_id: str) -> str:
        return str(self.jobs().get_job_logs(submission_id))

    def follow_logs(self, submission_id: str, write: Callable[[str], None]) -> None:
        """Pass each chunk of the job's log (from its start) to ``write`` until the job ends (a blocking call)."""

        async def follow() -> None:
            async for chunk in self.jobs().tail_job_logs(submission_id):
                write(chunk)

        asyncio.run(follow())

    def stop(self, submission_id: str) -> None:
        self.jobs().stop_job(submission_id)

    # Capacity ---------------------------------------------------------------------------------
    def use(self) -> ClusterUse:
        """Nodes, CPUs, GPUs and memory, with what is taken now, from the dashboard's REST API."""
        try:
            with httpx.Client(base_url=self.address, timeout=HTTP_TIMEOUT_SECONDS) as http:
                nodes = _data(http.get("/api/v0/nodes", params={"detail": "true", "limit": 10_000}))
                status = _data(http.get("/api/cluster_status"))
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unreachable(exc) from None
        return cluster_use(nodes, status)


def _data(response: httpx.Response) -> dict[str, Any]:
    response.raise_for_status()
    body = response.json()
    return dict(body.get("data") or {}) if isinstance(body, dict) else {}


def cluster_use(nodes_data: dict[str, Any], status_data: dict[str, Any]) -> ClusterUse:
    """Totals from the state API's alive nodes; what is in use from the autoscaler's load report (if any)."""
    listed = (nodes_data.get("result") or {}).get("result") or []
    alive = [node for node in listed if node.get("state") == "ALIVE"]
    totals: dict[str, float] = {}
    for node in alive:
        for key, value in (node.get("resources_total") or {}).items():
            totals[key] = totals.get(key, 0.0) + float(value)
    report = ((status_data.get("clusterStatus") or {}).get("loadMetricsReport") or {}).get("usage") or {}

    def used(key: str) -> float | None:
        pair = report.get(key)
        return float(pair[0]) if isinstance(pair, list | tuple) and pair else None

    memory_used = used("memory")
    return ClusterUse(
        nodes=len(alive), cpus=totals.get("CPU", 0.0), cpus_used=used("CPU"), gpus=totals.get("GPU", 0.0),
        gpus_used=used("GPU") if "GPU" in totals else None,
        memory_bytes=int(totals["memory"]) if "memory" in totals else None,
        memory_used_bytes=int(memory_used) if memory_used is not None else None,
    )  # fmt: skip
