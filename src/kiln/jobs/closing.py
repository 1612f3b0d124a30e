"""The end of every job, however it ended: its outputs and log kept, completion steps run, its run ended, its
final status recorded, its token revoked and its folder removed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from kiln.artifacts.references import remove_links
from kiln.artifacts.store import ArtifactStore
from kiln.clock import utcnow
from kiln.errors import KilnError
from kiln.jobs.folders import DEFAULT_OUTPUT, log_key, output_key
from kiln.jobs.job import Job
from kiln.jobs.outcome import Outcome
from kiln.jobs.preparation import JobPreparation
from kiln.logs import DEFAULT_JOB_LOG_LIMIT_BYTES, cap_log_file
from kiln.specs.views import LOGS_OUTPUT, JobStatus
from kiln.store.jobs import JobRepository
from kiln.tracking.runs import RunTracker

log = logging.getLogger(__name__)

LOG_REFERENCE_NAME = "std_log.where.txt"  # in the MLflow run's user_logs: where the job's log is
UNFINISHED = (JobStatus.QUEUED, JobStatus.PREPARING, JobStatus.RUNNING)

# run when a job succeeded, before it is marked completed (e.g. model registration);
# a KilnError from one fails the job with its message
CompletionHook = Callable[[Job], object]
EndListener = Callable[[Job], object]  # told once a job's final status is recorded (whatever it is)


@dataclass
class JobCloser:
    jobs: JobRepository
    preparation: JobPreparation
    store: ArtifactStore
    tracker: RunTracker
    completion_hooks: list[CompletionHook] = field(default_factory=list)
    end_listeners: list[EndListener] = field(default_factory=list)
    log_limit: int = DEFAULT_JOB_LOG_LIMIT_BYTES

    def close(self, job: Job, outcome: Outcome) -> None:
        """Keep outputs and log, end the MLflow run, then record the final status."""
        try:
            self.preparation.end_token(job)
        except Exception:
            log.exception("could not revoke the token of job %s", job.name)
        try:
            self._keep_outputs(job)
        except Exception:
            log.exception("could not keep the outputs of job %s", job.name)
        if outcome.status == JobStatus.COMPLETED:
            outcome = self._run_completion_hooks(job, outcome)
        try:
            self.tracker.mark_ended(job.id, outcome.status)
        except Exception:
            log.exception("could not end the MLflow run of job %s", job.name)
        self.jobs.transition(
            job.id, UNFINISHED, outcome.status,
            ended_at=utcnow(), exit_code=outcome.exit_code, failure_reason=outcome.reason,
        )  # fmt: skip
        job.folder.remove()
        for listener in self.end_listeners:
            try:
                listener(job)
            except Exception:
                log.exception("a listener of job %s's end failed", job.name)

    @staticmethod
    def _remove_links(job: Job) -> None:
        """What is kept of a job is files: a symbolic link it left (to /etc/passwd, to the workspace token…) is
        removed, never followed, with a note in its log; a link inside the folder would be a copy at best."""
        folder = job.folder
        removed: list[str] = []
        for top in (folder.outputs, folder.working_dir):  # the job may have replaced its own folders by links
            if top.is_symlink():
                top.unlink()
                top.mkdir()
                removed.append(top.name)
        for name in job.spec.outputs:
            removed += remove_links(folder.outputs / name)
        for kept in (folder.working_dir / "outputs", folder.logs_dir):
            removed += remove_links(kept)
        if folder.log.is_symlink():
            folder.log.unlink()
            folder.log.touch()
            removed.append(folder.log.name)
        if removed:
            shown = ", ".join(removed[:20]) + (f" and {len(removed) - 20} more" if len(removed) > 20 else "")
            folder.say(f"symbolic links are not kept with a job's outputs, left out: {shown}")

    def _run_completion_hooks(self, job: Job, outcome: Outcome) -> Outcome:
        for hook in self.completion_hooks:
            try:
                hook(job)
            except KilnError as exc:
                return Outcome.failed(f"the command succeeded, but {exc.message}", outcome.exit_code)
            except Exception as exc:
                log.exception("completion step failed for job %s", job.name)
                return Outcome.failed(f"the command succeeded, but a final step failed: {exc}", outcome.exit_code)
        return outcome

    def _keep_outputs(self, job: Job) -> None:
        folder = job.folder
        self._remove_links(job)
        if folder.log.exists():
            # whatever wrote it (the local shim caps as it writes; a Ray log copy, an environment build do not)
            cap_log_file(folder.log, self.log_limit)
            self.store.put(folder.log, log_key(job.id))
            self._log_reference(job)
        for name in job.spec.outputs:
            produced = folder.outputs / name
            if produced.exists() and (produced.is_file() or any(produced.iterdir())):
                self.store.put(produced, output_key(job.id, name))
        # ./outputs and ./logs, as Azure ML keeps them: in the store and as the run's artifacts of the same name
        for name, kept in ((DEFAULT_OUTPUT, folder.outputs_dir), (LOGS_OUTPUT, folder.logs_dir)):
            if kept.is_dir() and any(path.is_file() for path in kept.rglob("*")):
                self.store.put(kept, output_key(job.id, name))
                self.tracker.log_artifacts(job.id, kept, kept.name)

    def _log_reference(self, job: Job) -> None:
        """The log is stored once, in the workspace's store (``kiln job logs`` reads it there); the MLflow run gets
        a small file in ``user_logs`` that says where it is, instead of a second copy."""
        reference = job.folder.root / LOG_REFERENCE_NAME
        size = job.folder.log.stat().st_size
        reference.write_text(
            f"The log of job '{job.name}' ({size} bytes) is kept by the kiln workspace, not in MLflow:\n"
            f"  kiln job logs {job.name}\n"
            f"  GET /api/v1/jobs/{job.name}/logs\n"
            f"(in the workspace's artifact store: {log_key(job.id)})\n"
        )
        self.tracker.log_artifacts(job.id, reference, "user_logs")
