"""One Ray cluster, reached only through its dashboard: the Jobs API for jobs, its REST API for capacity.

The workspace server never joins a cluster (no ``ray.init``): it submits, watches and stops
jobs over HTTP with ``ray.job_submission.JobSubmissionClient``, and reads nodes and resource
use from the dashboard's REST API. ``ray`` is imported on first use only, with usage stats
off, so ``import kiln`` stays light and a workspace without the ``ray`` extra still starts.

A cluster with token authentication (``RAY_AUTH_MODE=token``) answers 401 to a request without its token and
403 to a wrong one: a compute that names a token file (:mod:`kiln.runners.ray.token_file`) sends
``Authorization: Bearer <token>`` with every request, the Jobs API client's and the REST API's alike, and either
answer becomes one clear error naming the compute, its address and what to set. The token is read from the file
when a client is made (and again after a refusal: a token replaced in the file is picked up without a restart).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from kiln.errors import KilnError, Unavailable
from kiln.extras import require_extra
from kiln.processes import QUIET_ENVIRONMENT
from kiln.runners.ray.token_file import GET_TOKEN, bearer_headers

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

TERMINAL_RAY_STATUSES = ("SUCCEEDED", "FAILED", "STOPPED")
HTTP_TIMEOUT_SECONDS = 10.0
REFUSED_STATUSES = (401, 403)  # Ray's token authentication: no token, a wrong one


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
    def __init__(self, name: str, address: str, token_file: Path | None = None) -> None:
        self.name = name
        self.address = address.rstrip("/")
        self.token_file = token_file
        self._client: JobSubmissionClient | None = None
        self._lock = threading.Lock()

    def _unreachable(self, exc: BaseException) -> Unavailable:
        return Unavailable(
            f"cannot reach Ray cluster '{self.name}' at {self.address}: {exc} (is the head node up, with its "
            "dashboard listening there? ray start --head --dashboard-host=... starts it; kiln compute show "
            f"-n {self.name} checks it)"
        )

    def refused(self) -> Unavailable:
        """The cluster answered 401 or 403: it asks for a token kiln did not send, or refuses the one it sent.
        The client is dropped: the next one is made with the token read again."""
        self._client = None
        where = f"Ray cluster '{self.name}' at {self.address}"
        if self.token_file is None:
            return Unavailable(
                f"{where} asked for a token (its token authentication is on) and compute '{self.name}' has none: "
                f"register it again with --token-file PATH (token_file: in a compute YAML), a file on the "
                f"workspace server's machine holding the cluster's token ({GET_TOKEN}); kiln compute delete -n "
                f"{self.name} forgets it first"
            )
        return Unavailable(
            f"{where} refused kiln's token (read from {self.token_file}): put the cluster's current token in "
            f"that file ({GET_TOKEN}); kiln reads it again at the next request"
        )

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer <token>`` read from the token file now (none without one); InvalidSpec when
        the file cannot be read or holds no token."""
        return bearer_headers(self.token_file, self.name)

    def jobs(self) -> JobSubmissionClient:
        """The Jobs API client, made on first use (it checks the cluster's Ray version) with the token read then."""
        with self._lock:
            if self._client is None:
                client_class = job_client_class()
                headers = self.headers()
                with self._refusals():
                    try:
                        self._client = client_class(self.address, headers=headers)
                    except (OSError, RuntimeError) as exc:
                        raise self._unreachable(exc) from None
            return self._client

    @contextmanager
    def _refusals(self) -> Iterator[None]:
        """Ray's refusal of the token (its AuthenticationError; a 401 or 403 answer to the log stream's handshake)
        becomes kiln's error; anything else goes on as it is."""
        try:
            yield
        except Exception as exc:
            if type(exc).__name__ == "AuthenticationError" or getattr(exc, "status", None) in REFUSED_STATUSES:
                raise self.refused() from None
            raise

    # Jobs -------------------------------------------------------------------------------------
    def submit(
        self, submission_id: str, entrypoint: str, runtime_env: dict[str, Any], *,
        num_cpus: float, num_gpus: float, metadata: dict[str, str],
    ) -> None:  # fmt: skip
        client = self.jobs()
        with self._refusals():
            try:
                client.submit_job(
                    entrypoint=entrypoint, submission_id=submission_id, runtime_env=runtime_env, metadata=metadata,
                    entrypoint_num_cpus=num_cpus, entrypoint_num_gpus=num_gpus,
                )  # fmt: skip
            except OSError as exc:  # requests' connection errors among them
                raise self._unreachable(exc) from None
            except RuntimeError as exc:  # the Jobs API answered with an error
                raise KilnError(f"Ray cluster '{self.name}' refused the job: {exc}") from None

    def state(self, submission_id: str) -> RayJobState | None:
        """The job's state on the cluster; None if the cluster does not know it."""
        client = self.jobs()
        with self._refusals():
            try:
                info = client.get_job_info(submission_id)
            except RuntimeError as exc:
                if "404" in str(exc) or "does not exist" in str(exc):
                    return None
                raise
        return RayJobState(str(info.status.value), info.message or "", info.driver_exit_code)

    def logs(self, submission_id: str) -> str:
        client = self.jobs()
        with self._refusals():
            return str(client.get_job_logs(submission_id))

    def follow_logs(self, submission_id: str, write: Callable[[str], None]) -> None:
        """Pass each chunk of the job's log (from its start) to ``write`` until the job ends (a blocking call)."""
        client = self.jobs()

        async def follow() -> None:
            async for chunk in client.tail_job_logs(submission_id):
                write(chunk)

        with self._refusals():
            asyncio.run(follow())

    def stop(self, submission_id: str) -> None:
        client = self.jobs()
        with self._refusals():
            client.stop_job(submission_id)

    # Capacity ---------------------------------------------------------------------------------
    def use(self) -> ClusterUse:
        """Nodes, CPUs, GPUs and memory, with what is taken now, from the dashboard's REST API."""
        headers = self.headers()
        try:
            with httpx.Client(base_url=self.address, headers=headers, timeout=HTTP_TIMEOUT_SECONDS) as http:
                nodes = self._data(http.get("/api/v0/nodes", params={"detail": "true", "limit": 10_000}))
                status = self._data(http.get("/api/cluster_status"))
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unreachable(exc) from None
        return cluster_use(nodes, status)

    def _data(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code in REFUSED_STATUSES:
            raise self.refused()
        return _data(response)


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
