"""One job's life on its runner: prepared, launched, watched until it ends (stopped on a cancel or at
``limits.timeout``), then closed. The same steps whatever the runner; what differs is the runner's."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from kiln.clock import utcnow
from kiln.errors import KilnError
from kiln.jobs.closing import JobCloser
from kiln.jobs.handler import handler_of
from kiln.jobs.job import Job
from kiln.jobs.outcome import Outcome
from kiln.jobs.preparation import JobPreparation
from kiln.jobs.runner import Ending, Run, Runner, RunState
from kiln.specs.views import JobStatus
from kiln.store.jobs import JobRepository
from kiln.tracking.runs import RunTracker

log = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 0.5  # within a second, as the README promises; how often a watcher reads its job's row for a cancel asked of another server


class CancelSignals:
    """The jobs this server is working on, each with the event a cancel sets (so it is stopped at once)."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def watch(self, job_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(job_id, threading.Event())

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._events.pop(job_id, None)

    def signal(self, job_id: str) -> bool:
        """Stop the job if this server works on it; False if it does not."""
        with self._lock:
            event = self._events.get(job_id)
        if event is not None:
            event.set()
        return event is not None


@dataclass
class JobLifecycle:
    jobs: JobRepository
    preparation: JobPreparation
    closer: JobCloser
    tracker: RunTracker
    shared: bool  # other servers may run this database's jobs: a cancel may reach a job only through its row
    cancels: CancelSignals = field(default_factory=CancelSignals)

    def run(self, job: Job, runner: Runner) -> None:
        """A claimed job, from preparing to its end."""
        stop = self.cancels.watch(job.id)
        try:
            run = self._prepare_and_launch(job, runner, stop)
        except Exception as exc:
            if not isinstance(exc, KilnError):
                log.exception("job %s failed while preparing", job.name)
            reason = exc.message if isinstance(exc, KilnError) else str(exc)
            self.close(job, Outcome.failed(f"preparing the job failed: {reason}"))
            return
        if run is not None:
            self.watch(job, runner, run)

    def _prepare_and_launch(self, job: Job, runner: Runner, stop: threading.Event) -> Run | None:
        handler = handler_of(job.spec)
        # a target whose processes may not see this server's disk gets its inputs as signed URLs, its outputs back
        values = self.preparation.materialize(job, runner.shares_disk, getattr(handler, "url_inputs", ()))
        prepared = runner.prepare(job)
        self.jobs.set_fields(job.id, environment=prepared.environment.record())
        variables = self.preparation.variables(job, values, prepared.bin_dir, prepared.logs_dir)
        if stop.is_set() or self.jobs.get(job.id).cancel_requested:
            self.close(job, Outcome.canceled())
            return None
        command = handler.command_line(job.spec, values)
        return runner.launch(job, command, variables, lambda **fields: self.jobs.set_fields(job.id, **fields))

    def watch(self, job: Job, runner: Runner, run: Run) -> None:
        """Poll the run until it ends, then close the job with how it ended."""
        try:
            outcome = self._follow(job, runner, run)
        except Exception as exc:  # a bug or a broken runner: the job must not stay active forever
            log.exception("lost track of job %s", job.name)
            outcome = Outcome.failed(f"the workspace server lost track of the job: {exc}")
            try:
                run.stop()  # its processes must not outlive the job's record
            except Exception:
                log.exception("could not stop job %s", job.name)
        self.close(job, outcome)

    def _follow(self, job: Job, runner: Runner, run: Run) -> Outcome:
        stop = self.cancels.watch(job.id)
        started_at = job.row.started_at if job.row.status == JobStatus.RUNNING.value else None
        timeout = job.spec.timeout_seconds
        stopped_for: str | None = None
        next_cancel_check = time.monotonic() + CANCEL_CHECK_SECONDS
        state = run.poll(0)
        while True:
            if state != RunState.PENDING and started_at is None:
                started_at = utcnow()  # the target runs it (or ran it): the job is running (from preparing), once
                self._mark_running(job, started_at)
            if state == RunState.ENDED:
                break
            if stopped_for is None:
                stopped_for = self._stop_reason(job, stop, started_at, timeout, next_cancel_check)
                if stopped_for is not None:
                    run.stop()
            if time.monotonic() >= next_cancel_check:
                next_cancel_check = time.monotonic() + CANCEL_CHECK_SECONDS
            state = run.poll(runner.poll_seconds)
        canceled = stop.is_set() or self.jobs.get(job.id).cancel_requested
        return run.finish(Ending(canceled, stopped_for == "timeout", timeout))

    def _mark_running(self, job: Job, started_at: datetime) -> None:
        """The job's record first, at once (a restart re-adopts a running job), then its MLflow run: after the
        launch, so the job's first line does not wait for MLflow, and before the job can be closed (its run marked
        ended). A job re-adopted after a restart while still preparing is marked here too."""
        if not self.jobs.transition(job.id, [JobStatus.PREPARING], JobStatus.RUNNING, started_at=started_at):
            return
        try:
            self.tracker.mark_started(job.id)
        except Exception:  # the job runs on (its run is marked ended when it ends); never a process left unwatched
            log.warning("could not mark the MLflow run of job %s as running", job.name, exc_info=True)

    def _stop_reason(
        self, job: Job, stop: threading.Event, started_at: datetime | None, timeout: int | None, next_check: float
    ) -> str | None:
        if timeout and started_at and timed_out(started_at, timeout, utcnow()):
            return "timeout"
        if stop.is_set():
            return "cancel"
        # another server may have been asked to cancel it: it can only set the flag
        if self.shared and time.monotonic() >= next_check and self.jobs.get(job.id).cancel_requested:
            return "cancel"
        return None

    def close(self, job: Job, outcome: Outcome) -> None:
        try:
            self.closer.close(job, outcome)
        finally:
            self.cancels.forget(job.id)

    def requeue(self, job: Job) -> None:
        """Back to the queue, for any server: it never really started."""
        job.folder.remove()
        self.cancels.forget(job.id)
        self.jobs.transition(
            job.id, [JobStatus.PREPARING], JobStatus.QUEUED, preparing_at=None, pid=None, gpu_ids=[], server_id=None
        )


def timed_out(started_at: datetime, timeout: float, now: datetime) -> bool:
    """Whether ``timeout`` seconds have passed since ``started_at``, for any number (no date arithmetic that
    could overflow: a stored timeout from before the limit, or a runner's own, is compared as it is)."""
    return (now - started_at).total_seconds() >= timeout
