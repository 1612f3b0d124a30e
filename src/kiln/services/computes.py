"""Compute target rules: register Ray clusters, show every target's capacity and use, check a job's ``compute``.

The service is also the job engine's directory of runners (``kiln.jobs.runner.Runners``):
``local`` and every registered Ray cluster, each with its runner."""

from __future__ import annotations

import builtins
import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from kiln.clock import utcnow
from kiln.errors import AlreadyExists, Conflict, InvalidSpec, KilnError
from kiln.jobs.runner import Runner
from kiln.runners.local.runner import LocalRunner
from kiln.runners.ray.cluster import ClusterUse, RayCluster, job_client_class
from kiln.specs.compute import LOCAL, RAY, ComputeSpec, ComputeUse, ComputeView
from kiln.specs.job import Problem, ProcessJobSpec
from kiln.specs.views import ACTIVE_STATUSES, JobStatus
from kiln.store.computes import ComputeRepository
from kiln.store.jobs import JobRepository
from kiln.store.tables import ComputeRow


@dataclass
class ComputeService:
    computes: ComputeRepository
    jobs: JobRepository
    local: LocalRunner
    ray_runner: Callable[[RayCluster], Runner]  # the runner of jobs on a cluster
    _clusters: dict[str, RayCluster] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # Registration ------------------------------------------------------------------------
    def create(self, spec: ComputeSpec, created_by: str | None = None) -> ComputeView:
        """Register a Ray cluster once its dashboard answers (a wrong address is refused, nothing recorded)."""
        if spec.name == LOCAL:
            raise AlreadyExists("'local' is the built-in compute target (this machine); give the cluster another name")
        if self.computes.find(spec.name) is not None:
            raise AlreadyExists(
                f"a compute target named '{spec.name}' already exists; pick another name, or delete it first "
                f"(kiln compute delete -n {spec.name})"
            )
        job_client_class()  # Ray itself is needed to submit jobs: say so now rather than at the first job
        use = RayCluster(spec.name, spec.address).use()  # Unavailable (503) with the reason if it does not answer
        row = ComputeRow(
            name=spec.name, type=spec.type, address=spec.address, description=spec.description,
            tags={str(k): v for k, v in spec.tags.items()}, created_at=utcnow(), created_by=created_by,
        )  # fmt: skip
        self.computes.add(row)
        return self._view(row, self._ray_use(row.name, use))

    def delete(self, name: str) -> None:
        """Forget a cluster (the cluster itself is untouched); refused while kiln jobs wait for or run on it."""
        if name == LOCAL:
            raise Conflict("'local' is built in and cannot be deleted")
        row = self.computes.get(name)
        busy = self.jobs.recent([JobStatus.QUEUED, *ACTIVE_STATUSES], limit=100_000)
        names = [job.name for job in busy if job.compute == row.name]
        if names:
            raise Conflict(
                f"compute target '{name}' has {len(names)} job(s) queued or running ({', '.join(names[:10])}); "
                "cancel them or wait for them to end, then delete it"
            )
        self.computes.remove(name)
        with self._lock:
            self._clusters.pop(name, None)

    # Reading ------------------------------------------------------------------------------
    def list(self) -> list[ComputeView]:
        return [self._local_view(), *(self._ray_view(row) for row in self.computes.all())]

    def get(self, name: str) -> ComputeView:
        if name == LOCAL:
            return self._local_view()
        return self._ray_view(self.computes.get(name))

    def _local_view(self) -> ComputeView:
        memory = psutil.virtual_memory()
        use = ComputeUse(
            nodes=1, cpus=float(os.cpu_count() or 1), gpus=float(len(self.local.compute.gpus)),
            gpus_used=float(len(self.jobs.gpus_held(ACTIVE_STATUSES, LOCAL))), memory_bytes=memory.total,
            memory_used_bytes=memory.total - memory.available, job_slots=self.local.slots,
            **self._job_counts(LOCAL),
        )  # fmt: skip
        return ComputeView(name=LOCAL, type=LOCAL, description="this machine: each job is a local process", use=use)

    def _ray_view(self, row: ComputeRow) -> ComputeView:
        try:
            use = self._ray_use(row.name, self.cluster(row.name).use())
        except KilnError as exc:
            return self._view(row, None, problem=exc.message)
        return self._view(row, use)

    def _ray_use(self, name: str, use: ClusterUse) -> ComputeUse:
        return ComputeUse.model_validate({**dataclasses.asdict(use), **self._job_counts(name)})

    def _job_counts(self, name: str) -> dict[str, int]:
        return {
            "jobs_running": self.jobs.count(ACTIVE_STATUSES, name),
            "jobs_queued": self.jobs.count([JobStatus.QUEUED], name),
        }

    @staticmethod
    def _view(row: ComputeRow, use: ComputeUse | None, problem: str | None = None) -> ComputeView:
        return ComputeView(
            name=row.name, type=row.type, address=row.address, description=row.description,
            tags=dict(row.tags or {}), created_at=row.created_at, created_by=row.created_by, use=use, problem=problem,
        )  # fmt: skip

    # For jobs -----------------------------------------------------------------------------
    def cluster(self, name: str) -> RayCluster:
        """The Ray cluster registered as ``name`` (NotFound naming the targets there are)."""
        row = self.computes.get(name)
        with self._lock:
            cluster = self._clusters.get(name)
            if cluster is None or cluster.address != row.address:
                cluster = self._clusters[name] = RayCluster(name, row.address)
            return cluster

    def ray_names(self) -> builtins.list[str]:
        return [row.name for row in self.computes.all() if row.type == RAY]

    # The engine's directory of runners --------------------------------------------------------
    def compute_names(self) -> builtins.list[str]:
        return [LOCAL, *self.ray_names()]

    def runner(self, compute: str) -> Runner | None:
        """The runner of jobs on ``compute``; None when no such target is registered (any more)."""
        if compute == LOCAL:
            return self.local
        if self.computes.find(compute) is None:
            return None
        return self.ray_runner(self.cluster(compute))

    def problems(self, spec: ProcessJobSpec) -> builtins.list[Problem]:
        """What keeps ``spec`` from running on the compute it names; InvalidSpec listing the targets if it names none."""
        runner = self.runner(spec.compute_name)
        if runner is None:
            raise InvalidSpec(
                f"compute: '{spec.compute}' is not a compute target of this workspace (available: "
                f"{', '.join(self.computes.names())}); kiln compute create --name NAME --type ray --address "
                "http://HOST:8265 registers a Ray cluster"
            )
        return runner.problems(spec)
