"""The Ray runner: jobs submitted to a registered Ray cluster through its Jobs API, mirrored until they end.

A job is prepared as a local one is (code snapshot, inputs, output folders, variables), then
submitted with its folder as ``runtime_env.working_dir``; the environment's pip requirements
become ``runtime_env.pip``. Every queued job is submitted at once: the cluster queues what
does not fit (PENDING, shown as preparing). A run mirrors Ray's status (RUNNING → running;
SUCCEEDED / FAILED / STOPPED → completed / failed / canceled) and Ray's log into the job's
log; a cancel or ``limits.timeout`` becomes ``stop_job``. The submission id is recorded on
the job before it is submitted, so a restarted server re-attaches to a job that still runs,
and requeues one that never reached the cluster.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kiln.integrations.tensorboard import DEFAULT_LOG_DIR
from kiln.jobs.folders import JobFolder, node_output
from kiln.jobs.job import Job
from kiln.jobs.outcome import Outcome
from kiln.jobs.runner import Ending, Prepared, RecordFields, Room, RunState, StartPlan
from kiln.runners.ray.cluster import RayCluster, RayJobState
from kiln.runners.ray.compute import (
    ENTRYPOINT,
    HandBack,
    driver_resources,
    pip_packages,
    rank_plan,
    ray_problems,
    runtime_env,
    write_driver,
)
from kiln.runners.ray.entry import HANDED_BACK
from kiln.runners.ray.logs import RayLogCopy
from kiln.specs.job import Problem, ProcessJobSpec
from kiln.specs.views import JobStatus
from kiln.tracking.runs import RunTracker

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
LOST_CONTACT_SECONDS = 120.0  # a cluster that does not answer this long: the job is failed, with what to check
SUBMISSION_FILE = "ray.json"  # in the job's folder: where Ray's log starts in the job's log
RETURN_KEY_FILE = "return-key"
FAILURE_LOG_LINES = 30


class RayRunner:
    slots: int | None = None  # the cluster queues what does not fit
    poll_seconds = POLL_SECONDS
    shares_disk = False  # the cluster's nodes: inputs reach them as signed URLs, named outputs come back with ./outputs

    def __init__(self, cluster: RayCluster, tracker: RunTracker) -> None:
        self.cluster = cluster
        self._tracker = tracker

    def problems(self, spec: ProcessJobSpec) -> list[Problem]:
        return ray_problems(spec, self.cluster.name)

    def plan_starts(self, queued: Sequence[Job], room: Room) -> StartPlan:
        """Every queued job starts at once (PENDING on the cluster until it fits)."""
        return StartPlan(starts=[(job, {}) for job in queued])

    def prepare(self, job: Job) -> Prepared:
        """Ray installs the environment's packages on the cluster's Python (runtime_env pip); nothing is built here.
        PATH (from ``bin_dir``) is the server's own and is not sent; ./logs is handed back when the job ends."""
        environment = job.environment.model_copy(update={"ray_runtime_env_pip": pip_packages(job.environment)})
        return Prepared(environment, Path(sys.executable).parent, Path(DEFAULT_LOG_DIR))

    def launch(self, job: Job, command: str, variables: dict[str, str], record: RecordFields) -> RayRun:
        folder = job.folder
        key_file = folder.root / RETURN_KEY_FILE
        key = secrets.token_urlsafe(16)
        key_file.write_text(key)
        folders = ["outputs", *(node_output(name) for name in job.spec.folder_outputs())]
        hand_back = HandBack(folder.working_dir, key, key_file)
        write_driver(folder.working_dir, command, variables, rank_plan(job.spec), hand_back, folders)
        submission_id = f"kiln-{job.name[:64]}-{secrets.token_hex(3)}"
        record(submission_id=submission_id)  # first: a restart then finds it either way
        packages = pip_packages(job.environment)
        folder.say(f"submitting to Ray cluster '{self.cluster.name}' ({self.cluster.address}) as {submission_id}")
        if packages:
            folder.say(f"Ray installs the environment's packages (runtime_env pip): {' '.join(packages)}")
        (folder.root / SUBMISSION_FILE).write_text(json.dumps({"log_base": folder.log.stat().st_size}))
        cpus, gpus = driver_resources(job.spec)
        self.cluster.submit(
            submission_id, ENTRYPOINT, runtime_env(folder.working_dir, variables, packages),
            num_cpus=cpus, num_gpus=gpus, metadata={"kiln_job": job.name, "kiln_job_id": job.id},
        )  # fmt: skip
        return RayRun(self.cluster, submission_id, folder, self._tracker, job.id)

    def adopt(self, job: Job) -> RayRun | Outcome | None:
        submission_id = job.row.submission_id
        if submission_id is None or not _known_to(self.cluster, submission_id):  # it never reached the cluster
            if job.row.status == JobStatus.PREPARING.value:
                return None
            return Outcome.failed(f"Ray cluster '{self.cluster.name}' does not know the job's Ray job {submission_id}")
        log.info("re-attaching job %s to Ray job %s on '%s'", job.name, submission_id, self.cluster.name)
        job.folder.root.mkdir(parents=True, exist_ok=True)
        return RayRun(self.cluster, submission_id, job.folder, self._tracker, job.id)


class RayRun:
    """One Ray job, polled through the Jobs API; its log copied into the kiln job's log as Ray writes it."""

    def __init__(self, cluster: RayCluster, submission_id: str, folder: JobFolder, tracker: RunTracker, job_id: str):
        self._cluster = cluster
        self._submission_id = submission_id
        self._folder = folder
        self._tracker = tracker
        self._job_id = job_id
        self._copy = RayLogCopy(cluster, submission_id, folder.log, _log_base(folder))
        self._state: RayJobState | None = None
        self._lost_since: float | None = None
        self._failure: str | None = None  # the cluster lost the job, or stopped answering
        self._stop_asked = self._stopped = False

    def poll(self, wait: float) -> RunState:
        time.sleep(wait)
        try:
            state = self._cluster.state(self._submission_id)
            self._lost_since = None
        except Exception as exc:
            self._lost_since = self._lost_since or time.monotonic()
            if time.monotonic() - self._lost_since < LOST_CONTACT_SECONDS:
                return self._last_state()
            self._failure = (
                f"lost contact with Ray cluster '{self._cluster.name}' for {LOST_CONTACT_SECONDS:.0f} s ({exc}); "
                f"the Ray job {self._submission_id} may still run there (ray job stop {self._submission_id} ends it)"
            )
            return RunState.ENDED
        if state is None:
            self._failure = (
                f"Ray cluster '{self._cluster.name}' no longer knows Ray job {self._submission_id} (was it restarted?)"
            )
            return RunState.ENDED
        self._state = state
        self._copy.follow()
        if self._stop_asked and not self._stopped and not state.ended:
            self._send_stop()
        return self._last_state()

    def _last_state(self) -> RunState:
        if self._state is None or self._state.status == "PENDING":
            return RunState.PENDING
        return RunState.ENDED if self._state.ended else RunState.RUNNING

    def stop(self) -> None:
        self._stop_asked = True
        self._send_stop()

    def _send_stop(self) -> None:
        try:
            self._cluster.stop(self._submission_id)
            self._stopped = True
        except Exception:  # asked again on the next poll while the job still runs
            log.exception("could not stop Ray job %s", self._submission_id)

    def finish(self, ending: Ending) -> Outcome:
        self._copy.finish()
        self._fetch_handed_back()
        self._folder.place_node_outputs()  # where the job's outputs are kept from (kiln.jobs.closing)
        if self._failure is not None or self._state is None:
            return Outcome.failed(self._failure or f"Ray job {self._submission_id} ended without a state")
        state = self._state
        if ending.canceled:
            return Outcome.canceled(state.exit_code)
        if state.status == "SUCCEEDED":
            return Outcome.completed()
        if ending.timed_out:
            return Outcome.timed_out(ending.timeout, state.exit_code, "its Ray job was stopped")
        if state.status == "STOPPED":
            return Outcome.failed("the Ray job was stopped on the cluster, not by kiln", state.exit_code)
        return Outcome.failed(f"the Ray job failed: {_shortened(state.message)}", state.exit_code)

    def _fetch_handed_back(self) -> None:
        """./outputs, ./logs and named outputs that a driver on another machine sent as MLflow artifacts come back
        to the folder."""
        for name in HANDED_BACK:
            local = self._folder.working_dir / name
            if local.is_dir() and any(path.is_file() for path in local.rglob("*")):
                continue
            try:
                self._tracker.download_artifacts(self._job_id, name, self._folder.working_dir)
            except Exception:
                log.exception("could not fetch the %s of Ray job %s from its MLflow run", name, self._submission_id)


def _known_to(cluster: RayCluster, submission_id: str) -> bool:
    """Whether the cluster knows the Ray job; True when it does not answer (the watcher keeps asking)."""
    try:
        return cluster.state(submission_id) is not None
    except Exception as exc:
        log.warning("Ray cluster '%s' does not answer (%s); watching %s anyway", cluster.name, exc, submission_id)
        return True


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
