"""Compute target rules: register Ray clusters and named local computes, show every target's capacity and
use, check a job's ``compute`` and say which target runs it.

The service is also the job engine's directory of runners (``kiln.jobs.runner.Runners``):
``local``, every named local compute (this machine under another name, with its own job limit and
GPUs) and every registered Ray cluster, each with its runner. A Ray cluster with token authentication is
registered with its token file's path (``token_file``): the token is read from it each time a client is made,
never stored (:mod:`kiln.runners.ray.token_file`)."""

from __future__ import annotations

import builtins
import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psutil

from kiln.clock import utcnow
from kiln.errors import AlreadyExists, Conflict, InvalidSpec, KilnError
from kiln.jobs.runner import Runner
from kiln.runners.local.runner import LocalRunner
from kiln.runners.ray.cluster import ClusterUse, RayCluster, job_client_class
from kiln.specs.compute import LOCAL, RAY, ComputeSpec, ComputeUse, ComputeView
from kiln.specs.job import AZUREML_PREFIX, Problem, ProcessJobSpec
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
    # a job naming 'azureml:NAME' that is not registered: run it on local compute, or refuse it (a team server)
    unknown_azureml: Literal["local", "refuse"] = "refuse"
    _clusters: dict[str, RayCluster] = field(default_factory=dict)
    _named_local: dict[str, tuple[tuple[int | None, tuple[str, ...] | None], LocalRunner]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # Registration ------------------------------------------------------------------------
    def create(self, spec: ComputeSpec, created_by: str | None = None) -> ComputeView:
        """Register a Ray cluster once its dashboard answers (a wrong address, a token file that cannot be read
        or a token the cluster refuses: nothing recorded), or a named local compute (its GPUs must be this
        machine's)."""
        if spec.name == LOCAL:
            raise AlreadyExists("'local' is the built-in compute target (this machine); give yours another name")
        if self.computes.find(spec.name) is not None:
            raise AlreadyExists(
                f"a compute target named '{spec.name}' already exists; pick another name, or delete it first "
                f"(kiln compute delete -n {spec.name})"
            )
        row = ComputeRow(
            name=spec.name, type=spec.type, address=spec.address, token_file=spec.token_file,
            description=spec.description, max_concurrent_jobs=spec.max_concurrent_jobs, gpus=spec.gpus,
            tags={str(k): v for k, v in spec.tags.items()}, created_at=utcnow(), created_by=created_by,
        )  # fmt: skip
        if spec.type == LOCAL:
            self._check_gpus(spec.gpus)
            self.computes.add(row)
            return self._named_local_view(row)
        assert spec.address is not None  # the spec requires it for ray
        job_client_class()  # Ray itself is needed to submit jobs: say so now rather than at the first job
        # Unavailable (503) with the reason if it does not answer or refuses the token; InvalidSpec for the file
        use = _ray_cluster(spec.name, spec.address, spec.token_file).use()
        self.computes.add(row)
        return self._view(row, self._ray_use(row.name, use))

    def _check_gpus(self, gpus: builtins.list[str] | None) -> None:
        machine = self.local.compute.gpus
        unknown = [gpu for gpu in gpus or [] if gpu not in machine]
        if unknown:
            has = f"has GPUs {', '.join(machine)}" if machine else "has no GPUs"
            raise InvalidSpec(
                f"gpus: {', '.join(unknown)} {'is not a GPU' if len(unknown) == 1 else 'are not GPUs'} of this "
                f"machine (local compute {has}, from the workspace setting 'gpus'); list only those, or leave "
                "gpus out to use all of them"
            )

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
        return [self._local_view(), *(self._row_view(row) for row in self.computes.all())]

    def get(self, name: str) -> ComputeView:
        if name == LOCAL:
            return self._local_view()
        return self._row_view(self.computes.get(name))

    def _row_view(self, row: ComputeRow) -> ComputeView:
        return self._named_local_view(row) if row.type == LOCAL else self._ray_view(row)

    def _local_view(self) -> ComputeView:
        use = self._machine_use(LOCAL, self.local)
        return ComputeView(name=LOCAL, type=LOCAL, description="this machine: each job is a local process", use=use)

    def _named_local_view(self, row: ComputeRow) -> ComputeView:
        return self._view(row, self._machine_use(row.name, self._named_runner(row)))

    def _machine_use(self, name: str, runner: LocalRunner) -> ComputeUse:
        """This machine as ``name`` sees it: its GPUs (those held by any job on this machine are in use)."""
        memory = psutil.virtual_memory()
        gpus = runner.compute.gpus
        held = self.jobs.gpus_held(ACTIVE_STATUSES)
        return ComputeUse(
            nodes=1, cpus=float(os.cpu_count() or 1), gpus=float(len(gpus)),
            gpus_used=float(len([gpu for gpu in gpus if gpu in held])), memory_bytes=memory.total,
            memory_used_bytes=memory.total - memory.available, job_slots=runner.slots, **self._job_counts(name),
        )  # fmt: skip

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
            name=row.name, type=row.type, address=row.address, token_file=row.token_file,
            description=row.description, max_concurrent_jobs=row.max_concurrent_jobs,
            gpus=list(row.gpus) if row.gpus is not None else None,
            tags=dict(row.tags or {}), created_at=row.created_at, created_by=row.created_by, use=use, problem=problem,
        )  # fmt: skip

    # For jobs -----------------------------------------------------------------------------
    def cluster(self, name: str) -> RayCluster:
        """The Ray cluster registered as ``name`` (NotFound naming the targets there are)."""
        row = self.computes.get(name)
        if row.type != RAY or row.address is None:
            raise InvalidSpec(f"compute target '{name}' is a named local compute, not a Ray cluster")
        with self._lock:
            cluster = self._clusters.get(name)
            if cluster is None or (cluster.address, cluster.token_file) != (row.address, _path(row.token_file)):
                cluster = self._clusters[name] = _ray_cluster(name, row.address, row.token_file)
            return cluster

    def _named_runner(self, row: ComputeRow) -> LocalRunner:
        """The runner of a named local compute, made again only when its row changed."""
        key = (row.max_concurrent_jobs, tuple(row.gpus) if row.gpus is not None else None)
        with self._lock:
            known = self._named_local.get(row.name)
            if known is None or known[0] != key:
                known = self._named_local[row.name] = (key, self.local.named(key[0], key[1]))
            return known[1]

    # The engine's directory of runners --------------------------------------------------------
    def compute_names(self) -> builtins.list[str]:
        return [LOCAL, *(row.name for row in self.computes.all())]

    def runner(self, compute: str) -> Runner | None:
        """The runner of jobs on ``compute``; None when no such target is registered (any more)."""
        if compute == LOCAL:
            return self.local
        row = self.computes.find(compute)
        if row is None:
            return None
        if row.type == LOCAL:
            return self._named_runner(row)
        return self.ray_runner(self.cluster(compute))

    def target_of(self, spec: ProcessJobSpec) -> str:
        """The compute target that runs ``spec``: the one it names, or ``local`` for an Azure name this
        workspace does not know when it runs those locally; InvalidSpec (with how to fix it) otherwise."""
        name = spec.compute_name
        if name == LOCAL or self.computes.find(name) is not None:
            return name
        if spec.compute.startswith(AZUREML_PREFIX) and self.unknown_azureml == "local":
            return LOCAL
        make_local = f"kiln compute create --name {name} --type local"
        if spec.compute.startswith(AZUREML_PREFIX):
            raise InvalidSpec(
                f"compute: '{spec.compute}' is not a compute target of this workspace (available: "
                f"{', '.join(self.computes.names())}); '{make_local}' makes it run on this machine, or change the "
                "file to one of those"
            )
        raise InvalidSpec(
            f"compute: '{spec.compute}' is not a compute target of this workspace (available: "
            f"{', '.join(self.computes.names())}); '{make_local}' makes it a name for this machine, and "
            f"'kiln compute create --name {name} --type ray --address http://HOST:8265' registers a Ray cluster"
        )

    def problems(self, spec: ProcessJobSpec) -> builtins.list[Problem]:
        """What keeps ``spec`` from running on its compute target; InvalidSpec listing the targets if it names none."""
        runner = self.runner(self.target_of(spec))
        if runner is None:  # deleted just now
            raise InvalidSpec(f"compute: '{spec.compute}' was just deleted from this workspace")
        return runner.problems(spec)


def _path(text: str | None) -> Path | None:
    return Path(text) if text is not None else None


def _ray_cluster(name: str, address: str, token_file: str | None) -> RayCluster:
    return RayCluster(name, address, _path(token_file))
