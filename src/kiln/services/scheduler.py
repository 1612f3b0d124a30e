"""The job scheduler: queued jobs start in order, up to the compute's concurrency limit.

Each started job has a watcher thread that waits for its process, enforces
``limits.timeout`` and records the outcome. At start the scheduler re-adopts jobs whose
processes outlived an earlier server and closes those whose processes are gone, so no job
stays "running" forever. Jobs on Ray compute targets are started, watched and re-attached by
``remote`` (:mod:`kiln.services.ray_scheduler`), with the same preparation and ending.

Several servers may share one database (PostgreSQL). Each claims queued jobs for itself
(``JobRepository.claim_queued``: one server per job), counts only its own jobs against its
slots and GPUs, and at start recovers only its own jobs (``server_id``), never those of
another live server. A cancel asked of another server reaches the job through its row:
the owning server's watcher sees ``cancel_requested``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from kiln.artifacts.store import ArtifactStore
from kiln.clock import utcnow
from kiln.errors import KilnError
from kiln.runners.local import JobFolder, LocalRunner, ProcessHandle
from kiln.runners.local_compute import LocalCompute, visible_devices
from kiln.services.job_environment import (
    EnvironmentResolver,
    JobTokenIssuer,
    ReferenceValues,
    job_environment,
    reference_values,
)
from kiln.services.job_inputs import JobInputs
from kiln.services.jobs import DEFAULT_OUTPUT, LOCAL_COMPUTE, log_key, logs_folder, output_key
from kiln.services.uploads import UploadService
from kiln.specs.job import CommandJobSpec, render_command
from kiln.specs.views import ACTIVE_STATUSES, LOGS_OUTPUT, JobStatus
from kiln.store.jobs import JobRepository
from kiln.store.tables import JobRow
from kiln.tracking.runs import RunTracker

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
CANCEL_CHECK_SECONDS = 0.5  # how often a watcher reads its job's row for a cancel asked of another server: README promises a stop within a second


@dataclass
class Outcome:
    status: JobStatus
    exit_code: int | None
    reason: str | None


class RemoteJobs(Protocol):
    """Jobs on compute targets other than local compute (Ray clusters): started, watched and re-attached there."""

    def dispatch(self) -> None:
        """Start the queued jobs of those targets."""
        ...

    def recover(self, row: JobRow) -> bool:
        """After a restart: take over an active job of those targets; False if it is not one of theirs."""
        ...


class JobScheduler:
    def __init__(
        self,
        jobs: JobRepository,
        runner: LocalRunner,
        uploads: UploadService,
        store: ArtifactStore,
        tracker: RunTracker,
        inputs: JobInputs,
        environments: EnvironmentResolver,
        *,
        compute: LocalCompute,
        concurrency: int,
        workspace_url: str,
        token: str,
        cancel_grace: float,
        server_id: str | None = None,
        shared: bool = False,
        job_tokens: JobTokenIssuer | None = None,
    ) -> None:
        self._jobs = jobs
        self._runner = runner
        self._uploads = uploads
        self._store = store
        self._tracker = tracker
        self._inputs = inputs
        self._environments = environments
        self._compute = compute
        self._concurrency = concurrency
        self._workspace_url = workspace_url
        self._token = token
        self._cancel_grace = cancel_grace
        self._job_tokens = job_tokens  # None: every job acts with the workspace token
        self.server_id = server_id
        self._shared = shared  # other servers may run this database's jobs
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._dispatch_lock = threading.Lock()
        # run when a job's command succeeded, before it is marked completed (e.g. model registration);
        # a KilnError from one fails the job with its message
        self.completion_hooks: list[Callable[[JobRow], object]] = []
        self.remote: RemoteJobs | None = None  # jobs on Ray compute targets; set before start()

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="job-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self.dispatch()
            except Exception:  # keep scheduling whatever one bad row does
                log.exception("job dispatch failed")
            try:
                if self.remote is not None:
                    self.remote.dispatch()
            except Exception:
                log.exception("job dispatch to remote compute failed")

    def dispatch(self) -> None:
        """Start queued jobs in order while slots are free, each once the GPUs it asks for are free."""
        with self._dispatch_lock:
            free = self._concurrency - self._jobs.count(ACTIVE_STATUSES, LOCAL_COMPUTE, self.server_id)
            if free <= 0:
                return
            refused: list[tuple[JobRow, int]] = []

            def choose(rows: list[JobRow]) -> list[tuple[JobRow, dict[str, object]]]:
                queued: list[tuple[JobRow, int]] = []
                for row in rows:
                    wanted = CommandJobSpec.model_validate(row.spec).gpu_count
                    if wanted <= len(self._compute.gpus):
                        queued.append((row, wanted))
                    elif not self._shared:  # the GPUs went away since it was submitted
                        refused.append((row, wanted))
                    # shared: left queued for a server that has that many GPUs
                held = self._jobs.gpus_held(ACTIVE_STATUSES, LOCAL_COMPUTE, self.server_id)
                plan = self._compute.plan_starts([wanted for _, wanted in queued], free, held)
                return [
                    (row, {"preparing_at": utcnow(), "gpu_ids": gpus})
                    for (row, _), gpus in zip(queued, plan, strict=True)
                    if gpus is not None
                ]

            claimed = self._jobs.claim_queued(LOCAL_COMPUTE, self.server_id, choose)
            for row, wanted in refused:
                self._refuse(row, f"resources.gpu_count: {self._compute.too_many_gpus(wanted)}")
            for row in claimed:
                threading.Thread(target=self._run, args=(row,), name=f"job-{row.name}", daemon=True).start()

    def _refuse(self, row: JobRow, reason: str) -> None:
        self._finish(row, self._runner.folder(row.id), Outcome(JobStatus.FAILED, None, reason))

    # One job's life ------------------------------------------------------------------------
    def _run(self, row: JobRow) -> None:
        folder = self._runner.folder(row.id)
        try:
            handle = self._prepare_and_launch(row, folder)
        except Exception as exc:
            log.exception("job %s failed while preparing", row.name)
            self._finish(row, folder, Outcome(JobStatus.FAILED, None, f"preparing the job failed: {exc}"))
            return
        if handle is not None:
            self._watch(row, folder, handle)

    def _prepare_and_launch(self, row: JobRow, folder: JobFolder) -> ProcessHandle | None:
        spec, values = self.materialize(row, folder)
        prepared = self._environments.prepare(row.environment, folder.log)
        self._jobs.set_fields(row.id, environment=prepared.record)
        env = self.job_variables(row, spec, values, prepared.bin_dir, logs_folder(folder))
        current = self._jobs.get(row.id)
        if current.cancel_requested:
            self._finish(row, folder, Outcome(JobStatus.CANCELED, None, "canceled by the user"))
            return None
        env.update(visible_devices(current.gpu_ids or []))  # after the job's own variables: they cannot widen it
        self._tracker.mark_started(row.id)
        handle = self._runner.launch(folder, render_command(spec.command, values), env, ranks=spec.rank_count)
        moved = self._jobs.transition(
            row.id, [JobStatus.PREPARING], JobStatus.RUNNING,
            started_at=utcnow(), pid=handle.pid, pid_started=handle.create_time,
        )  # fmt: skip
        if not moved or self._jobs.get(row.id).cancel_requested:
            self._runner.terminate_tree(handle.pid, self._cancel_grace)
        return handle

    # Shared with the runners of other compute targets (kiln.services.ray_scheduler) -------------
    def materialize(self, row: JobRow, folder: JobFolder) -> tuple[CommandJobSpec, ReferenceValues]:
        """The job's folder with its code, inputs and output folders; what ``${{…}}`` stands for there."""
        spec = CommandJobSpec.model_validate(row.spec)
        folder.create()
        if spec.code:
            key, _ = self._uploads.resolve(spec.code, "code")
            self._store.get(key, folder.working_dir)
        input_paths = self._inputs.materialize(spec, row.pinned_inputs, folder.inputs)
        for name, output in spec.outputs.items():
            if not (output and output.is_file()):
                (folder.outputs / name).mkdir(parents=True, exist_ok=True)
        logs_folder(folder).mkdir(parents=True, exist_ok=True)
        return spec, reference_values(spec, folder, input_paths)

    def job_variables(
        self, row: JobRow, spec: CommandJobSpec, values: ReferenceValues, bin_dir: Path, tensorboard_dir: Path
    ) -> dict[str, str]:
        """The variables a job's process gets: its run, the workspace, its inputs and outputs, and a token
        acting as its creator (revoked in ``_finish``)."""
        token = self._job_tokens.job_token(row) if self._job_tokens else self._token
        return job_environment(
            spec, values, bin_dir=bin_dir, job_id=row.id, job_name=row.name, experiment_id=row.experiment_id,
            workspace_url=self._workspace_url, token=token, tensorboard_dir=tensorboard_dir,
        )  # fmt: skip

    def folder(self, job_id: str) -> JobFolder:
        return self._runner.folder(job_id)

    def finish(self, row: JobRow, folder: JobFolder, outcome: Outcome) -> None:
        self._finish(row, folder, outcome)

    def requeue(self, row: JobRow, folder: JobFolder) -> None:
        self._requeue(row, folder)

    def _watch(self, row: JobRow, folder: JobFolder, handle: ProcessHandle) -> None:
        spec = CommandJobSpec.model_validate(row.spec)
        started = self._jobs.get(row.id).started_at or utcnow()
        deadline = _deadline(started, spec)
        timed_out = canceled = False
        next_cancel_check = time.monotonic() + CANCEL_CHECK_SECONDS
        code = handle.wait(0)
        while code is None:
            if deadline and not timed_out and utcnow() >= deadline:
                timed_out = True
                self._runner.terminate_tree(handle.pid, self._cancel_grace)
            if self._shared and not canceled and time.monotonic() >= next_cancel_check:
                # another server may have been asked to cancel it: it can only set the flag
                next_cancel_check = time.monotonic() + CANCEL_CHECK_SECONDS
                if self._jobs.get(row.id).cancel_requested:
                    canceled = True
                    self._runner.terminate_tree(handle.pid, self._cancel_grace)
            code = handle.wait(POLL_SECONDS)
        self._finish(row, folder, self._outcome(row, folder, code, timed_out, spec))

    def _outcome(
        self, row: JobRow, folder: JobFolder, shim_code: int, timed_out: bool, spec: CommandJobSpec
    ) -> Outcome:
        result = folder.read_result()
        if self._jobs.get(row.id).cancel_requested:
            return Outcome(JobStatus.CANCELED, _exit_code(result), "canceled by the user")
        if timed_out:
            limit = spec.limits.timeout if spec.limits else None
            return Outcome(
                JobStatus.FAILED,
                _exit_code(result),
                f"timed out: the job ran longer than limits.timeout ({limit} s) and was stopped",
            )
        if result is None:
            how = _signal_text(shim_code) if shim_code < 0 else f"exit code {shim_code}"
            return Outcome(
                JobStatus.FAILED,
                None,
                f"the job's process ended without reporting a result ({how}); it was probably killed from outside",
            )
        code = int(str(result["exit_code"]))
        if code == 0:
            return Outcome(JobStatus.COMPLETED, 0, None)
        how = f"was killed by {_signal_text(code)}" if code < 0 else f"exited with code {code}"
        tail = str(result.get("stderr_tail") or "").strip()
        what = "the command"
        if result.get("failed_rank") is not None:
            what = f"rank {result['failed_rank']} of the command ({result.get('ranks')} processes)"
            how += "; the other ranks were stopped"
        return Outcome(JobStatus.FAILED, code, f"{what} {how}" + (f"; the end of its stderr:\n{tail}" if tail else ""))

    def _finish(self, row: JobRow, folder: JobFolder, outcome: Outcome) -> None:
        """Keep outputs and log, end the MLflow run, then record the final status."""
        if self._job_tokens is not None:
            try:
                self._job_tokens.end_job_token(row)  # its processes are gone: nothing acts with it any more
            except Exception:
                log.exception("could not revoke the token of job %s", row.name)
        try:
            self._keep_outputs(row, folder)
        except Exception:
            log.exception("could not keep the outputs of job %s", row.name)
        if outcome.status == JobStatus.COMPLETED:
            outcome = self._run_completion_hooks(row, outcome)
        try:
            self._tracker.mark_ended(row.id, outcome.status)
        except Exception:
            log.exception("could not end the MLflow run of job %s", row.name)
        self._jobs.transition(
            row.id, [JobStatus.QUEUED, JobStatus.PREPARING, JobStatus.RUNNING], outcome.status,
            ended_at=utcnow(), exit_code=outcome.exit_code, failure_reason=outcome.reason,
        )  # fmt: skip
        folder.remove()
        self.wake()

    def _run_completion_hooks(self, row: JobRow, outcome: Outcome) -> Outcome:
        for hook in self.completion_hooks:
            try:
                hook(row)
            except KilnError as exc:
                return Outcome(JobStatus.FAILED, outcome.exit_code, f"the command succeeded, but {exc.message}")
            except Exception as exc:
                log.exception("completion step failed for job %s", row.name)
                return Outcome(
                    JobStatus.FAILED, outcome.exit_code, f"the command succeeded, but a final step failed: {exc}"
                )
        return outcome

    def _keep_outputs(self, row: JobRow, folder: JobFolder) -> None:
        spec = CommandJobSpec.model_validate(row.spec)
        if folder.log.exists():
            self._store.put(folder.log, log_key(row.id))
            self._tracker.log_artifacts(row.id, folder.log, "user_logs")
        for name in spec.outputs:
            produced = folder.outputs / name
            if produced.exists() and (produced.is_file() or any(produced.iterdir())):
                self._store.put(produced, output_key(row.id, name))
        # ./outputs and ./logs, as Azure ML keeps them: in the store and as the run's artifacts of the same name
        for name, kept in ((DEFAULT_OUTPUT, folder.working_dir / "outputs"), (LOGS_OUTPUT, logs_folder(folder))):
            if kept.is_dir() and any(path.is_file() for path in kept.rglob("*")):
                self._store.put(kept, output_key(row.id, name))
                self._tracker.log_artifacts(row.id, kept, kept.name)

    # After a restart --------------------------------------------------------------------
    def recover(self) -> None:
        """This server's preparing and running jobs (and any that name no server), after a restart."""
        for row in self._jobs.active_of(self.server_id):
            if self.remote is not None and self.remote.recover(row):
                continue
            folder = self._runner.folder(row.id)
            handle = self._runner.adopt(row.pid, row.pid_started) if row.pid else None
            if handle is not None and row.status == JobStatus.RUNNING.value:
                log.info("re-adopting running job %s (pid %s)", row.name, row.pid)
                threading.Thread(target=self._watch, args=(row, folder, handle), daemon=True).start()
            elif handle is not None:  # preparing, and already started: stop it and start over
                self._runner.terminate_tree(handle.pid, self._cancel_grace)
                self._requeue(row, folder)
            elif row.status == JobStatus.PREPARING.value:
                self._requeue(row, folder)
            elif folder.read_result() is not None:
                spec = CommandJobSpec.model_validate(row.spec)
                self._finish(row, folder, self._outcome(row, folder, 0, False, spec))
            else:
                reason = "the job's process was gone when the workspace server restarted; it ended while the server was down, without a recorded result"
                self._finish(row, folder, Outcome(JobStatus.FAILED, None, reason))

    def _requeue(self, row: JobRow, folder: JobFolder) -> None:
        folder.remove()
        self._jobs.transition(
            row.id, [JobStatus.PREPARING], JobStatus.QUEUED, preparing_at=None, pid=None, gpu_ids=[], server_id=None
        )


def _deadline(started: datetime, spec: CommandJobSpec) -> datetime | None:
    if spec.limits and spec.limits.timeout:
        return started + timedelta(seconds=spec.limits.timeout)
    return None


def _exit_code(result: dict[str, object] | None) -> int | None:
    return int(str(result["exit_code"])) if result and "exit_code" in result else None


def _signal_text(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"
