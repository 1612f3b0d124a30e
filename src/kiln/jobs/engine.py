"""The job engine: queued jobs start in order on their compute targets, as each target's runner allows.

Every started job has a watcher thread (:class:`kiln.jobs.lifecycle.JobLifecycle`) that
follows it to its end. At start the engine re-adopts the jobs that outlived an earlier
server, requeues those that were still being prepared and closes those that are gone, so no
job stays "running" forever.

Several servers may share one database (PostgreSQL). Each claims queued jobs for itself
(``JobRepository.claim_queued``: one server per job), counts only its own jobs against a
target's slots and GPUs, and at start recovers only its own jobs (``server_id``), never
those of another live server. A cancel asked of another server reaches the job through its
row: the owning server's watcher sees ``cancel_requested``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kiln.artifacts.store import ArtifactStore
from kiln.clock import utcnow
from kiln.errors import KilnError
from kiln.jobs.closing import CompletionHook, EndListener, JobCloser
from kiln.jobs.folders import JobFolders
from kiln.jobs.job import Job
from kiln.jobs.lifecycle import JobLifecycle
from kiln.jobs.outcome import CANCELED_BY_USER, Outcome
from kiln.jobs.preparation import JobPreparation
from kiln.jobs.runner import Room, Runner, Runners
from kiln.logs import DEFAULT_JOB_LOG_LIMIT_BYTES
from kiln.specs.job import ProcessJobSpec
from kiln.specs.job_kinds import job_kinds
from kiln.specs.views import ACTIVE_STATUSES, JobStatus
from kiln.store.jobs import JobRepository
from kiln.store.tables import JobRow
from kiln.tracking.runs import RunTracker

log = logging.getLogger(__name__)

LOOP_SECONDS = 1.0  # the queue is looked at this often, and whenever a job is submitted or ends


class JobEngine:
    def __init__(
        self,
        jobs: JobRepository,
        runners: Runners,
        preparation: JobPreparation,
        store: ArtifactStore,
        tracker: RunTracker,
        folders: JobFolders,
        *,
        server_id: str | None = None,
        shared: bool = False,
        log_limit: int = DEFAULT_JOB_LOG_LIMIT_BYTES,
    ) -> None:
        self._jobs = jobs
        self._runners = runners
        self._folders = folders
        self.server_id = server_id
        self._shared = shared  # other servers may run this database's jobs
        self._closer = JobCloser(jobs, preparation, store, tracker, log_limit=log_limit)
        self._lifecycle = JobLifecycle(jobs, preparation, self._closer, tracker, shared)
        self._tracker = tracker
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._dispatch_lock = threading.Lock()

    @property
    def completion_hooks(self) -> list[CompletionHook]:
        """Steps run when a job succeeded, before it is marked completed (e.g. model registration);
        a KilnError from one fails the job with its message."""
        return self._closer.completion_hooks

    @property
    def end_listeners(self) -> list[EndListener]:
        """Told once a job this server ran has its final status recorded, whatever it is (a sweep's or a pipeline's
        loop wakes at its child's end rather than at its next poll)."""
        return self._closer.end_listeners

    # The loop ------------------------------------------------------------------------------
    def start(self) -> None:
        """Recover this server's jobs, then start queued ones, in the engine's thread (recovering may wait for
        MLflow, which starts beside the server: nothing of the server's own start waits for it)."""
        self._thread = threading.Thread(target=self._recover_then_loop, name="job-engine", daemon=True)
        self._thread.start()

    def _recover_then_loop(self) -> None:
        self.recover()
        self._loop()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        """There is work: a job was queued or ended."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(LOOP_SECONDS)
            self._wake.clear()
            self.dispatch()

    # Starting ------------------------------------------------------------------------------
    def dispatch(self) -> None:
        """On every compute target, start the queued jobs its runner lets start now, oldest first."""
        with self._dispatch_lock:
            for name in self._runners.compute_names():
                try:
                    runner = self._runners.runner(name)
                    if runner is not None:
                        self._dispatch_to(name, runner)
                except Exception:  # keep scheduling whatever one bad row or target does
                    log.exception("job dispatch to compute target '%s' failed", name)

    def _dispatch_to(self, compute: str, runner: Runner) -> None:
        free = None
        if runner.slots is not None:
            in_server = [kind.type for kind in job_kinds() if kind.runs_in_server]  # they hold no slot
            free = runner.slots - self._jobs.count(ACTIVE_STATUSES, compute, self.server_id, in_server)
            if free <= 0:
                return
        refused: list[tuple[Job, str]] = []
        parsed: dict[str, ProcessJobSpec] = {}

        def choose(rows: list[JobRow]) -> list[tuple[JobRow, dict[str, object]]]:
            queued = [job for job in (self._queued(row, refused) for row in rows) if job is not None]
            # this machine's GPUs are shared by 'local' and every named local compute: held is machine-wide
            held = self._jobs.gpus_held(ACTIVE_STATUSES, server_id=self.server_id) if free is not None else set()
            plan = runner.plan_starts(queued, Room(free, frozenset(held)))
            refused.extend(plan.refused)
            parsed.update((job.id, job.spec) for job, _ in plan.starts)
            return [(job.row, {"preparing_at": utcnow(), **fields}) for job, fields in plan.starts]

        claimed = self._jobs.claim_queued(compute, self.server_id, choose)
        for job, reason in refused:
            self._lifecycle.close(job, Outcome.failed(reason))
        for row in claimed:
            job = Job.of(self._jobs.get(row.id), self._folders, parsed[row.id])  # as claimed: gpu_ids, server_id
            self._thread_for(job, self._lifecycle.run, job, runner)
        if refused:
            self.wake()

    def _queued(self, row: JobRow, refused: list[tuple[Job, str]]) -> Job | None:
        """The queued job of ``row``; None if this server cannot read its spec (refused, unless another may)."""
        if _runs_in_server(row):
            return None  # its capability's service runs it (kiln.sweeps)
        job, problem = self._job_of(row)
        if problem is None:
            return job
        if not self._shared:
            refused.append((job, f"this workspace cannot run it: {problem}"))
        return None

    def _job_of(self, row: JobRow) -> tuple[Job, str | None]:
        """The job of ``row``, and why its spec cannot be read here (its kind is not registered), if it cannot:
        then it has a stand-in spec, enough to close it."""
        try:
            return Job.of(row, self._folders), None
        except KilnError as exc:
            kind = row.spec.get("type") if isinstance(row.spec, dict) else None
            return Job.of(row, self._folders, ProcessJobSpec(type=str(kind))), exc.message

    def _thread_for(self, job: Job, target: Callable[..., None], *args: object) -> None:
        def life() -> None:
            try:
                target(*args)
            finally:
                self.wake()  # a slot may be free

        threading.Thread(target=life, name=f"job-{job.name}", daemon=True).start()

    # Cancel ------------------------------------------------------------------------------------
    def cancel(self, row: JobRow) -> None:
        """End a job that has not ended: a queued one at once; an active one is stopped by the server that
        runs it (this one at once; another one sees the row's ``cancel_requested`` within a second)."""
        if row.status == JobStatus.QUEUED.value and self._jobs.transition(
            row.id, [JobStatus.QUEUED], JobStatus.CANCELED, ended_at=utcnow(), failure_reason=CANCELED_BY_USER
        ):
            self._tracker.mark_ended(row.id, JobStatus.CANCELED)
            return
        self._jobs.set_fields(row.id, cancel_requested=True)
        self._lifecycle.cancels.signal(row.id)

    # After a restart ---------------------------------------------------------------------------
    def recover(self) -> None:
        """This server's preparing and running jobs (and any that name no server), after a restart."""
        for row in self._jobs.active_of(self.server_id):
            if _runs_in_server(row):
                continue  # its capability's service picks it up again
            try:
                self._recover(row)
            except Exception:
                log.exception("could not recover job %s", row.name)

    def _recover(self, row: JobRow) -> None:
        job, problem = self._job_of(row)
        runner = self._runners.runner(row.compute)
        if runner is None or problem is not None:
            if row.status == JobStatus.PREPARING.value:
                self._lifecycle.requeue(job)
            else:
                why = problem or f"compute target '{row.compute}' is no longer registered in this workspace"
                self._lifecycle.close(job, Outcome.failed(f"the job cannot be followed after a restart: {why}"))
            return
        adopted = runner.adopt(job)
        if adopted is None:
            self._lifecycle.requeue(job)
        elif isinstance(adopted, Outcome):
            self._lifecycle.close(job, adopted)
        else:
            self._lifecycle.cancels.watch(job.id)
            self._thread_for(job, self._lifecycle.watch, job, runner, adopted)


def _runs_in_server(row: JobRow) -> bool:
    """The row is of a kind the server's own logic runs (``JobKind.runs_in_server``), not a process."""
    kind = row.spec.get("type") if isinstance(row.spec, dict) else None
    return any(declared.type == kind and declared.runs_in_server for declared in job_kinds())
