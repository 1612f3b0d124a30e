"""Jobs on Ray compute targets: claimed from the queue, submitted through the Ray Jobs API, mirrored until they end.

The job scheduler delegates here (``JobScheduler.remote``) for every compute target that is
a Ray cluster. A job is prepared as a local one is (code snapshot, inputs, output folders,
variables), then submitted with its folder as ``runtime_env.working_dir``. A watcher thread
mirrors it: Ray's status into kiln's (PENDING → preparing, RUNNING → running, SUCCEEDED /
FAILED / STOPPED → completed / failed / canceled), Ray's log into the job's log, a cancel or
``limits.timeout`` into ``stop_job``. The submission id is stored on the job before it is
submitted, so a restarted server re-attaches to a job that still runs, and resubmits one that
never reached the cluster.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from kiln.clock import utcnow
from kiln.errors import KilnError
from kiln.integrations.tensorboard import DEFAULT_LOG_DIR
from kiln.runners.local import JobFolder
from kiln.runners.ray_cluster import RayCluster, RayJobState
from kiln.runners.ray_compute import (
    ENTRYPOINT,
    HandBack,
    driver_resources,
    pip_packages,
    rank_plan,
    runtime_env,
    write_driver,
)
from kiln.runners.ray_entry import HANDED_BACK
from kiln.runners.ray_logs import RayLogCopy
from kiln.services.computes import ComputeService
from kiln.services.scheduler import JobScheduler, Outcome
from kiln.specs.job import CommandJobSpec, render_command
from kiln.specs.views import JobStatus
from kiln.store.jobs import JobRepository
from kiln.store.tables import JobRow
from kiln.tracking.runs import RunTracker

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
LOST_CONTACT_SECONDS = 120.0  # a cluster that does not answer this long: the job is failed, with what to check
SUBMISSION_FILE = "ray.json"  # in the job's folder: where Ray's log starts in the job's log
RETURN_KEY_FILE = "return-key"
FAILURE_LOG_LINES = 30


class RayJobs:
    def __init__(
        self, scheduler: JobScheduler, jobs: JobRepository, computes: ComputeService, tracker: RunTracker
    ) -> None:
        self._scheduler = scheduler
        self._jobs = jobs
        self._computes = computes
        self._tracker = tracker

    # Starting ------------------------------------------------------------------------------
    def dispatch(self) -> None:
        """Every queued job of a Ray target starts at once: the cluster queues what does not fit (PENDING)."""
        for name in self._computes.ray_names():
            claimed = self._jobs.claim_queued(
                name, self._scheduler.server_id, lambda rows: [(row, {"preparing_at": utcnow()}) for row in rows]
            )
            for row in claimed:
                cluster = self._computes.cluster(name)
                threading.Thread(target=self._run, args=(row, cluster), name=f"ray-job-{row.name}", daemon=True).start()

    def _run(self, row: JobRow, cluster: RayCluster) -> None:
        folder = self._scheduler.folder(row.id)
        try:
            submission_id = self._submit(row, folder, cluster)
        except Exception as exc:
            if not isinstance(exc, KilnError):
                log.exception("job %s failed while preparing for Ray", row.name)
            reason = exc.message if isinstance(exc, KilnError) else str(exc)
            self._scheduler.finish(row, folder, Outcome(JobStatus.FAILED, None, f"preparing the job failed: {reason}"))
            return
        if submission_id is not None:
            self._watch(row, folder, cluster, submission_id)

    def _submit(self, row: JobRow, folder: JobFolder, cluster: RayCluster) -> str | None:
        spec, values = self._scheduler.materialize(row, folder)
        packages = pip_packages(row.environment or {})
        self._jobs.set_fields(row.id, environment={**(row.environment or {}), "ray_runtime_env_pip": packages})
        # PATH (from bin_dir) is the server's own and is not sent; ./logs is handed back when the job ends
        variables = self._scheduler.job_variables(row, spec, values, Path(sys.executable).parent, Path(DEFAULT_LOG_DIR))
        if self._jobs.get(row.id).cancel_requested:
            self._scheduler.finish(row, folder, Outcome(JobStatus.CANCELED, None, "canceled by the user"))
            return None
        key_file = folder.root / RETURN_KEY_FILE
        key = secrets.token_urlsafe(16)
        key_file.write_text(key)
        hand_back = HandBack(folder.working_dir, key, key_file)
        write_driver(folder.working_dir, render_command(spec.command, values), variables, rank_plan(spec), hand_back)
        submission_id = f"kiln-{row.name[:64]}-{secrets.token_hex(3)}"
        self._jobs.set_fields(row.id, submission_id=submission_id)  # first: a restart then finds it either way
        with folder.log.open("a", encoding="utf-8") as handle:
            handle.write(f"kiln: submitting to Ray cluster '{cluster.name}' ({cluster.address}) as {submission_id}\n")
            if packages:
                handle.write(f"kiln: Ray installs the environment's packages (runtime_env pip): {' '.join(packages)}\n")
        (folder.root / SUBMISSION_FILE).write_text(json.dumps({"log_base": folder.log.stat().st_size}))
        cpus, gpus = driver_resources(spec)
        self._tracker.mark_started(row.id)
        cluster.submit(
            submission_id, ENTRYPOINT, runtime_env(folder.working_dir, variables, packages),
            num_cpus=cpus, num_gpus=gpus, metadata={"kiln_job": row.name, "kiln_job_id": row.id},
        )  # fmt: skip
        return submission_id

    # Watching ------------------------------------------------------------------------------
    def _watch(self, row: JobRow, folder: JobFolder, cluster: RayCluster, submission_id: str) -> None:
        spec = CommandJobSpec.model_validate(row.spec)
        copy = RayLogCopy(cluster, submission_id, folder.log, _log_base(folder))
        stop_reason: str | None = None
        lost_since: float | None = None
        while True:
            try:
                state = cluster.state(submission_id)
                lost_since = None
            except Exception as exc:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since < LOST_CONTACT_SECONDS:
                    time.sleep(POLL_SECONDS)
                    continue
                reason = (
                    f"lost contact with Ray cluster '{cluster.name}' for {LOST_CONTACT_SECONDS:.0f} s ({exc}); "
                    f"the Ray job {submission_id} may still run there (ray job stop {submission_id} ends it)"
                )
                outcome = Outcome(JobStatus.FAILED, None, reason)
                break
            if state is None:
                reason = f"Ray cluster '{cluster.name}' no longer knows Ray job {submission_id} (was it restarted?)"
                outcome = Outcome(JobStatus.FAILED, None, reason)
                break
            copy.follow()
            current = self._mirror_running(row, state)
            if state.ended:
                outcome = self._outcome(state, stop_reason, spec, current)
                break
            if stop_reason is None:
                stop_reason = _stop_reason(current, spec)
                if stop_reason is not None:
                    self._stop(cluster, submission_id)
            time.sleep(POLL_SECONDS)
        copy.finish()
        self._fetch_handed_back(row, folder)
        self._scheduler.finish(row, folder, outcome)

    def _mirror_running(self, row: JobRow, state: RayJobState) -> JobRow:
        """Ray runs the driver: the job is running (from preparing), once."""
        if state.status != "PENDING":
            self._jobs.transition(row.id, [JobStatus.PREPARING], JobStatus.RUNNING, started_at=utcnow())
        return self._jobs.get(row.id)

    @staticmethod
    def _stop(cluster: RayCluster, submission_id: str) -> None:
        try:
            cluster.stop(submission_id)
        except Exception:  # it is asked again on the next round if the job still runs
            log.exception("could not stop Ray job %s", submission_id)

    @staticmethod
    def _outcome(state: RayJobState, stop_reason: str | None, spec: CommandJobSpec, current: JobRow) -> Outcome:
        if current.cancel_requested:
            return Outcome(JobStatus.CANCELED, state.exit_code, "canceled by the user")
        if state.status == "SUCCEEDED":
            return Outcome(JobStatus.COMPLETED, 0, None)
        if stop_reason == "timeout":
            limit = spec.limits.timeout if spec.limits else None
            return Outcome(
                JobStatus.FAILED, state.exit_code,
                f"timed out: the job ran longer than limits.timeout ({limit} s) and its Ray job was stopped",
            )  # fmt: skip
        if state.status == "STOPPED":
            return Outcome(JobStatus.FAILED, state.exit_code, "the Ray job was stopped on the cluster, not by kiln")
        return Outcome(JobStatus.FAILED, state.exit_code, f"the Ray job failed: {_shortened(state.message)}")

    def _fetch_handed_back(self, row: JobRow, folder: JobFolder) -> None:
        """./outputs and ./logs that a driver on another machine sent as MLflow artifacts come back to the folder."""
        for name in HANDED_BACK:
            local = folder.working_dir / name
            if local.is_dir() and any(path.is_file() for path in local.rglob("*")):
                continue
            try:
                self._tracker.download_artifacts(row.id, name, folder.working_dir)
            except Exception:
                log.exception("could not fetch the %s of job %s from its MLflow run", name, row.name)

    # After a restart -------------------------------------------------------------------------
    def recover(self, row: JobRow) -> bool:
        cluster = self._computes.ray_cluster_of(row.compute)
        if cluster is None:
            return False
        folder = self._scheduler.folder(row.id)
        if row.submission_id is None or not _known_to(cluster, row.submission_id):  # it never reached the cluster
            if row.status == JobStatus.PREPARING.value:
                self._scheduler.requeue(row, folder)
            else:
                reason = f"Ray cluster '{cluster.name}' does not know the job's Ray job {row.submission_id}"
                self._scheduler.finish(row, folder, Outcome(JobStatus.FAILED, None, reason))
            return True
        log.info("re-attaching job %s to Ray job %s on '%s'", row.name, row.submission_id, cluster.name)
        folder.root.mkdir(parents=True, exist_ok=True)
        threading.Thread(
            target=self._watch, args=(row, folder, cluster, row.submission_id), name=f"ray-job-{row.name}", daemon=True
        ).start()
        return True


def _known_to(cluster: RayCluster, submission_id: str) -> bool:
    """Whether the cluster knows the Ray job; True when it does not answer (the watcher keeps asking)."""
    try:
        return cluster.state(submission_id) is not None
    except Exception as exc:
        log.warning("Ray cluster '%s' does not answer (%s); watching %s anyway", cluster.name, exc, submission_id)
        return True


def _stop_reason(row: JobRow, spec: CommandJobSpec) -> str | None:
    if row.cancel_requested:
        return "cancel"
    timeout = spec.limits.timeout if spec.limits else None
    if timeout and row.started_at and utcnow() >= row.started_at + timedelta(seconds=timeout):
        return "timeout"
    return None


def _log_base(folder: JobFolder) -> int:
    try:
        return int(json.loads((folder.root / SUBMISSION_FILE).read_text())["log_base"])
    except (OSError, ValueError, KeyError):
        return 0


def _shortened(message: str) -> str:
    """Ray's message ends with up to 20,000 characters of log; keep its first line and the last lines."""
    lines = message.strip().splitlines()
    if len(lines) <= FAILURE_LOG_LINES + 1:
        return "\n".join(lines)
    return "\n".join([lines[0], "…", *lines[-FAILURE_LOG_LINES:]])
