"""The local runner: each job is a process group on this machine, started through the job shim.

Jobs start while this server has free slots (``local_concurrency``) and the GPUs they ask
for are free; each sees only its own GPUs. The environment is a venv that the
environment resolver builds or reuses. ``ro_mount`` inputs are mounted read-only in the
job's own mount namespace at launch, and a distributed job's ranks are started by the shim
(:mod:`kiln.runners.local.rank_launcher`). The command runs in a sandbox
(:mod:`kiln.runners.local.sandbox`) where the machine allows one; the job's row and log say if it is not
isolated. Because the shim holds the job's pipes and
writes its result to the job's folder, a job outlives a restart of the server, which
adopts it again by its pid.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from kiln.environments.resolver import EnvironmentResolver
from kiln.jobs.folders import JobFolder
from kiln.jobs.job import Job
from kiln.jobs.outcome import Outcome, signal_text
from kiln.jobs.runner import Ending, Prepared, RecordFields, Room, RunState, StartPlan
from kiln.logs import DEFAULT_JOB_LOG_LIMIT_BYTES
from kiln.processes import child_environment
from kiln.runners.local import processes
from kiln.runners.local.compute import LocalCompute, private_ray_variables, visible_devices
from kiln.runners.local.job_shim import RESULT_NAME
from kiln.runners.local.processes import ProcessHandle
from kiln.runners.local.read_only_mounts import ReadOnlyInputs
from kiln.runners.local.sandbox import NOT_ISOLATED, JobSandbox, SandboxView, readable_paths, without_server_credentials
from kiln.runners.local.spare_shims import SpareShims
from kiln.specs.job import Problem, ProcessJobSpec
from kiln.specs.views import JobStatus

log = logging.getLogger(__name__)

GONE = (
    "the job's process was gone when the workspace server restarted; it ended while the server was down, "
    "without a recorded result"
)


class LocalRunner:
    poll_seconds = 0.2
    shares_disk = True

    def __init__(
        self,
        environments: EnvironmentResolver,
        compute: LocalCompute,
        read_only_inputs: ReadOnlyInputs,
        *,
        slots: int,
        cancel_grace: float,
        sandbox: JobSandbox,
        shared: bool = False,
        log_limit: int = DEFAULT_JOB_LOG_LIMIT_BYTES,
        shims: SpareShims | None = None,
    ) -> None:
        self.environments = environments
        self.compute = compute
        self.read_only_inputs = read_only_inputs  # ro_mount inputs, provided while preparing, applied at launch
        self.slots: int | None = slots
        self._grace = cancel_grace
        self._log_limit = log_limit  # the shim stops the job's log there, with a note
        self.sandbox = sandbox
        self._shared = shared  # other servers share the queue: a job that asks for more GPUs may suit one of them
        self.shims = shims or SpareShims()  # one started ahead, shared with the named local computes

    def named(self, slots: int | None, gpus: Sequence[str] | None) -> LocalRunner:
        """The runner of a named local compute: this machine, with its own job limit (default this runner's)
        and the GPUs of this machine it may use (default all)."""
        usable = self.compute.gpus if gpus is None else tuple(gpu for gpu in self.compute.gpus if gpu in gpus)
        return LocalRunner(
            self.environments, LocalCompute(usable), self.read_only_inputs, slots=slots or self.slots or 1,
            cancel_grace=self._grace, sandbox=self.sandbox, shared=self._shared, log_limit=self._log_limit,
            shims=self.shims,
        )  # fmt: skip

    def problems(self, spec: ProcessJobSpec) -> list[Problem]:
        return self.compute.problems(spec)

    def close(self) -> None:
        """The server stops: the shim started ahead ends (running jobs go on)."""
        self.shims.close()

    def plan_starts(self, queued: Sequence[Job], room: Room) -> StartPlan:
        """Oldest first while slots are free, each once the GPUs it asks for are free."""
        plan = StartPlan()
        fitting = []
        for job in queued:
            wanted = job.spec.gpu_count
            if wanted <= len(self.compute.gpus):
                fitting.append(job)
            elif not self._shared:  # the GPUs went away since it was submitted
                plan.refused.append((job, f"resources.gpu_count: {self.compute.too_many_gpus(wanted)}"))
            # shared: left queued for a server that has that many GPUs
        wanted_gpus = [job.spec.gpu_count for job in fitting]
        gpus = self.compute.plan_starts(wanted_gpus, room.free_slots or 0, room.gpus_held)
        plan.starts = [(job, {"gpu_ids": ids}) for job, ids in zip(fitting, gpus, strict=True) if ids is not None]
        return plan

    def prepare(self, job: Job) -> Prepared:
        """The job's venv, built or reused (the server's own interpreter when the job names no environment)."""
        prepared = self.environments.prepare(job.environment, job.folder.log)
        return Prepared(prepared.pin, prepared.bin_dir, job.folder.logs_dir)

    def launch(self, job: Job, command: str, variables: dict[str, str], record: RecordFields) -> LocalRun:
        ray_defaults, ray_fixed = private_ray_variables(job.folder.root)
        # after the job's own: they cannot widen it
        env = {**ray_defaults, **variables, **visible_devices(job.row.gpu_ids or []), **ray_fixed}
        isolation = self.sandbox.isolation()
        record(isolation=isolation)
        if isolation.startswith(NOT_ISOLATED):
            job.folder.say(f"this job is {isolation} (it runs as the server's user and can read its files)")
        handle = self._start(job.folder, command, env, job.spec.rank_count)
        record(pid=handle.pid, pid_started=handle.create_time)
        return LocalRun(handle, job.folder, self._grace)

    def _start(self, folder: JobFolder, command: str, env: dict[str, str], ranks: int | None) -> ProcessHandle:
        """Start the command through the shim; with ``ranks``, as that many processes of a distributed job."""
        sandboxed = self.sandbox.availability().available
        if sandboxed:
            mounts = self.read_only_inputs.claim(folder.root, folder.log)
            bin_dir = Path(env["PATH"].split(os.pathsep)[0])  # the job's environment comes first on its PATH
            view = SandboxView(
                folder.root, readable_paths(bin_dir, env.get("PYTHONPATH", "")),
                tuple((mount.source, mount.target) for mount in mounts),
            )  # fmt: skip
            self.sandbox.prepare_folder(view)
            env, wrapper = self.sandbox.environment(env, view), self.sandbox.command(view)
        else:
            wrapper = self.read_only_inputs.command_prefix(folder.root, folder.log)  # [] without ro_mount inputs
        shim = [str(folder.root)] + (["--sandboxed"] if sandboxed else [])
        shim += ["--ranks", str(ranks)] if ranks is not None else []
        shim += ["--log-limit", str(self._log_limit)]
        shim += ["--", *wrapper]
        shim += ["bash", "-c", command]
        popen = self.shims.start(
            shim, folder.working_dir, without_server_credentials(child_environment()) | env, folder.log
        )
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            create_time = time.time()
        return ProcessHandle(popen.pid, create_time, popen)

    def adopt(self, job: Job) -> LocalRun | Outcome | None:
        row = job.row
        handle = processes.adopt(row.pid, row.pid_started) if row.pid else None
        if handle is not None:  # running; or launched (its pid recorded) by a server stopped before it said so
            log.info("re-adopting %s job %s (pid %s)", row.status, row.name, row.pid)
            return LocalRun(handle, job.folder, self._grace)
        if row.status == JobStatus.PREPARING.value and not row.pid:
            return None  # never launched: it starts over
        if read_result(job.folder) is not None:  # it ended while the server was down, and said how
            return LocalRun(None, job.folder, self._grace)
        if row.status == JobStatus.PREPARING.value:
            return None
        return Outcome.failed(GONE)


class LocalRun:
    """One job's shim process (None: it has ended already)."""

    def __init__(self, handle: ProcessHandle | None, folder: JobFolder, grace: float) -> None:
        self._handle = handle
        self._folder = folder
        self._grace = grace
        self._shim_code: int | None = None if handle is not None else 0

    def poll(self, wait: float) -> RunState:
        if self._shim_code is None and self._handle is not None:
            self._shim_code = self._handle.wait(wait)
        return RunState.RUNNING if self._shim_code is None else RunState.ENDED

    def stop(self) -> None:
        if self._handle is not None:
            processes.terminate_tree(self._handle.pid, self._grace)

    def finish(self, ending: Ending) -> Outcome:
        result = read_result(self._folder)
        if ending.canceled:
            return Outcome.canceled(_exit_code(result))
        if ending.timed_out:
            return Outcome.timed_out(ending.timeout, _exit_code(result))
        if result is None:
            code = self._shim_code or 0
            how = signal_text(code) if code < 0 else f"exit code {code}"
            return Outcome.failed(
                f"the job's process ended without reporting a result ({how}); it was probably killed from outside"
            )
        return command_outcome(result)


def command_outcome(result: dict[str, object]) -> Outcome:
    """How the command ended, from the shim's ``result.json``."""
    code = int(str(result["exit_code"]))
    if code == 0:
        return Outcome.completed()
    how = f"was killed by {signal_text(code)}" if code < 0 else f"exited with code {code}"
    tail = str(result.get("stderr_tail") or "").strip()
    what = "the command"
    if result.get("failed_rank") is not None:
        what = f"rank {result['failed_rank']} of the command ({result.get('ranks')} processes)"
        how += "; the other ranks were stopped"
    return Outcome.failed(f"{what} {how}" + (f"; the end of its stderr:\n{tail}" if tail else ""), code)


def read_result(folder: JobFolder) -> dict[str, object] | None:
    """The shim's ``result.json`` (None until the command has ended)."""
    try:
        return dict(json.loads((folder.root / RESULT_NAME).read_text()))
    except (OSError, ValueError):
        return None


def _exit_code(result: dict[str, object] | None) -> int | None:
    return int(str(result["exit_code"])) if result and "exit_code" in result else None
