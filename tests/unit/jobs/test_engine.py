"""The job engine without a server: a fake Runner, a real migrated SQLite job table, a local artifact store.

It drives a job's whole life (claim, prepare, launch, watch, close), cancels (here and through the
row, as another server would), ``limits.timeout``, the runner's slots, refusals, a kind registered
by a test, and re-adoption after a restart."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import pytest

from kiln.artifacts.store import ArtifactStore
from kiln.clock import utcnow
from kiln.errors import KilnError
from kiln.jobs import handler as job_handlers
from kiln.jobs.engine import JobEngine
from kiln.jobs.folders import JobFolders, log_key
from kiln.jobs.handler import ReferenceValues
from kiln.jobs.inputs import JobInputs
from kiln.jobs.job import Job
from kiln.jobs.outcome import Outcome
from kiln.jobs.preparation import JobPreparation
from kiln.jobs.runner import Ending, Prepared, RecordFields, Room, Runner, RunState, StartPlan
from kiln.specs import job_kinds
from kiln.specs.job import CommandJobSpec, Problem, ProcessJobSpec
from kiln.specs.job_kinds import JobKind
from kiln.specs.pins import ServerInterpreterPin
from kiln.specs.views import JobStatus
from kiln.store.database import create_database_engine, migrate, session_factory
from kiln.store.jobs import JobRepository
from kiln.store.tables import JobRow
from kiln.tracking.runs import RunTracker

SERVER = "server-a"


# Fakes ----------------------------------------------------------------------------------------
class FakeRun:
    """A run the test ends (``end``), or a stop ends (exit code -15, as SIGTERM would)."""

    def __init__(self, state: RunState = RunState.RUNNING) -> None:
        self.state = state
        self.exit_code: int | None = None
        self.ended = threading.Event()
        self.stopped = threading.Event()
        self.ending: Ending | None = None

    def end(self, exit_code: int = 0) -> None:
        self.exit_code = exit_code
        self.ended.set()

    def poll(self, wait: float) -> RunState:
        return RunState.ENDED if self.ended.wait(wait) else self.state

    def stop(self) -> None:
        self.stopped.set()
        self.end(-15)

    def finish(self, ending: Ending) -> Outcome:
        self.ending = ending
        if ending.canceled:
            return Outcome.canceled(self.exit_code)
        if ending.timed_out:
            return Outcome.timed_out(ending.timeout, self.exit_code)
        return Outcome.completed() if self.exit_code == 0 else Outcome.failed("it failed", self.exit_code)


@dataclass
class FakeRunner:
    slots: int | None = None
    poll_seconds: float = 0.02
    shares_disk: bool = True
    runs: dict[str, FakeRun] = field(default_factory=dict)
    launched: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    adoptions: dict[str, FakeRun | Outcome | None] = field(default_factory=dict)
    prepare_error: Exception | None = None
    refuse: dict[str, str] = field(default_factory=dict)

    def problems(self, spec: ProcessJobSpec) -> list[Problem]:
        return []

    def plan_starts(self, queued: Sequence[Job], room: Room) -> StartPlan:
        plan = StartPlan(refused=[(job, self.refuse[job.name]) for job in queued if job.name in self.refuse])
        startable = [job for job in queued if job.name not in self.refuse]
        room_for = len(startable) if room.free_slots is None else room.free_slots
        plan.starts = [(job, {}) for job in startable[:room_for]]
        return plan

    def prepare(self, job: Job) -> Prepared:
        if self.prepare_error is not None:
            raise self.prepare_error
        return Prepared(job.environment, Path(sys.executable).parent, job.folder.logs_dir)

    def launch(self, job: Job, command: str, variables: dict[str, str], record: RecordFields) -> FakeRun:
        record(submission_id=f"fake-{job.name}")
        job.folder.log.write_text(f"ran {command}\n")
        self.launched[job.name] = (command, variables)
        run = self.runs[job.name] = FakeRun()
        return run

    def adopt(self, job: Job) -> FakeRun | Outcome | None:
        return self.adoptions[job.name]


@dataclass
class FakeRunners:
    targets: dict[str, Runner]

    def compute_names(self) -> list[str]:
        return list(self.targets)

    def runner(self, compute: str) -> Runner | None:
        return self.targets.get(compute)


@dataclass
class FakeTracker:
    started: list[str] = field(default_factory=list)
    ended: dict[str, JobStatus] = field(default_factory=dict)

    def mark_started(self, run_id: str) -> None:
        self.started.append(run_id)

    def mark_ended(self, run_id: str, status: JobStatus) -> None:
        self.ended[run_id] = status

    def log_artifacts(self, run_id: str, local: Path, artifact_path: str) -> None:
        pass


class JobTokens:
    """Each job's own token, named after the job (``kiln.services.users.UserService`` in a server)."""

    def job_token(self, job: JobRow) -> str:
        return f"job-token-{job.name}"

    def end_job_token(self, job: JobRow) -> None:
        pass


class NoUploads:
    def resolve(self, reference: str, field: str) -> tuple[str, str]:
        raise KilnError(f"{field}: no uploads here")


class EchoJobSpec(ProcessJobSpec):
    """A kind added by this test: prints its text."""

    type: Literal["echo"] = "echo"
    text: str


class EchoJobHandler:
    def command_line(self, spec: EchoJobSpec, values: ReferenceValues) -> str:
        return f"echo {spec.text}"

    def summary(self, spec: EchoJobSpec) -> str:
        return f"echo {spec.text}"


# The engine, wired as the server wires it ------------------------------------------------------
@dataclass
class Bench:
    jobs: JobRepository
    engine: JobEngine
    runner: FakeRunner
    tracker: FakeTracker
    store: ArtifactStore
    folders: JobFolders
    completed: list[Job] = field(default_factory=list)

    def queue(self, name: str, compute: str = "local", spec: dict[str, Any] | None = None, **fields: Any) -> JobRow:
        data = spec or {"command": "echo ${{inputs.x}}", "inputs": {"x": 3}}
        parsed = job_kinds.parse_job_spec({**data, "compute": compute, **fields})
        row = JobRow(
            id=uuid.uuid4().hex, name=name, display_name=None, experiment_name="e", experiment_id="1",
            compute=compute, status=JobStatus.QUEUED.value, created_at=utcnow(),
            spec=parsed.model_dump(mode="json", by_alias=True, exclude_none=True),
            pinned_inputs={}, environment=ServerInterpreterPin(python=sys.executable).record(),
        )  # fmt: skip
        self.jobs.add(row)
        self.engine.wake()
        return row

    def status(self, name: str) -> JobStatus:
        return JobStatus(self.jobs.get(name).status)

    def ended(self, name: str) -> JobRow:
        wait_for(lambda: self.status(name).is_terminal, f"{name} to end")
        return self.jobs.get(name)

    def launched(self, name: str) -> FakeRun:
        return wait_for(lambda: self.runner.runs.get(name), f"{name} to be launched")


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def make_bench(
    tmp_path: Path, runner: FakeRunner, *, shared: bool = False, targets: dict[str, Runner] | None = None
) -> Bench:
    database = create_database_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    migrate(database)
    jobs = JobRepository(session_factory(database))
    store = ArtifactStore(str(tmp_path / "store"))
    tracker = FakeTracker()
    folders = JobFolders(tmp_path / "jobs")
    preparation = JobPreparation(NoUploads(), store, JobInputs([]), "http://127.0.0.1:9", JobTokens())
    engine = JobEngine(
        jobs, FakeRunners(targets or {"local": runner}), preparation, store, cast(RunTracker, tracker), folders,
        server_id=SERVER, shared=shared,
    )  # fmt: skip
    bench = Bench(jobs, engine, runner, tracker, store, folders)
    engine.completion_hooks.append(bench.completed.append)
    return bench


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    started = make_bench(tmp_path, FakeRunner())
    started.engine.start()
    yield started
    started.engine.stop()


# A job's life ----------------------------------------------------------------------------------
def test_a_job_is_claimed_prepared_launched_watched_and_closed(bench: Bench) -> None:
    row = bench.queue("first")
    run = bench.launched("first")
    command, variables = bench.runner.launched["first"]
    assert command == "echo 3"  # the handler's command line, ${{inputs.x}} resolved
    assert variables["KILN_JOB_NAME"] == "first" and variables["KILN_TOKEN"] == "job-token-first"
    wait_for(lambda: bench.status("first") == JobStatus.RUNNING, "the job to run")
    running = bench.jobs.get("first")
    assert running.server_id == SERVER and running.started_at is not None and running.submission_id == "fake-first"
    folder = bench.folders.of(row.id)
    assert folder.working_dir.is_dir() and folder.logs_dir.is_dir()
    run.end(0)
    done = bench.ended("first")
    assert (done.status, done.exit_code, done.failure_reason) == (JobStatus.COMPLETED.value, 0, None)
    assert bench.tracker.started == [row.id] and bench.tracker.ended == {row.id: JobStatus.COMPLETED}
    assert bench.store.exists(log_key(row.id))  # the log is kept, then the folder goes
    wait_for(lambda: not folder.root.exists(), "the job's folder to be removed")
    (completed,) = bench.completed
    assert isinstance(completed.spec, CommandJobSpec) and completed.id == row.id  # parsed once, typed
    assert run.ending == Ending(canceled=False, timed_out=False, timeout=None)


def test_a_failing_preparation_fails_the_job_with_its_reason(tmp_path: Path) -> None:
    runner = FakeRunner(prepare_error=KilnError("building the environment failed: no such package"))
    bench = make_bench(tmp_path, runner)
    bench.engine.start()
    try:
        bench.queue("unbuildable")
        done = bench.ended("unbuildable")
    finally:
        bench.engine.stop()
    assert done.status == JobStatus.FAILED.value
    assert done.failure_reason == "preparing the job failed: building the environment failed: no such package"
    assert "unbuildable" not in runner.launched


def test_a_completion_step_that_fails_fails_the_job(bench: Bench) -> None:
    def refuse(_job: Job) -> None:
        raise KilnError("model 'm' already has version 1")

    bench.engine.completion_hooks.insert(0, refuse)
    bench.queue("registers")
    bench.launched("registers").end(0)
    done = bench.ended("registers")
    assert done.status == JobStatus.FAILED.value and done.exit_code == 0
    assert done.failure_reason == "the command succeeded, but model 'm' already has version 1"


def test_the_runners_slots_limit_how_many_jobs_are_active(tmp_path: Path) -> None:
    runner = FakeRunner(slots=1)
    bench = make_bench(tmp_path, runner)
    bench.engine.start()
    try:
        bench.queue("one")
        bench.queue("two")
        first = bench.launched("one")
        time.sleep(0.3)
        assert "two" not in runner.runs and bench.status("two") == JobStatus.QUEUED
        first.end(0)
        bench.launched("two").end(0)
        assert bench.ended("two").status == JobStatus.COMPLETED.value
    finally:
        bench.engine.stop()


def test_a_job_the_runner_refuses_fails_and_the_next_one_runs(tmp_path: Path) -> None:
    runner = FakeRunner(refuse={"too-big": "resources.gpu_count: 4 GPUs asked for, but local compute has no GPUs"})
    bench = make_bench(tmp_path, runner)
    bench.engine.start()
    try:
        bench.queue("too-big")
        bench.queue("fits")
        refused = bench.ended("too-big")
        bench.launched("fits").end(0)
        assert bench.ended("fits").status == JobStatus.COMPLETED.value
    finally:
        bench.engine.stop()
    assert refused.status == JobStatus.FAILED.value
    assert refused.failure_reason == "resources.gpu_count: 4 GPUs asked for, but local compute has no GPUs"


def test_a_job_whose_kind_is_not_registered_is_refused_without_blocking_the_queue(tmp_path: Path) -> None:
    bench = make_bench(tmp_path, FakeRunner())
    row = bench.queue("ghost")
    bench.jobs.set_fields(row.id, spec={**row.spec, "type": "plugin-kind"})  # written by a server with a plug-in
    bench.queue("after")
    bench.engine.start()
    try:
        bench.launched("after").end(0)
        assert bench.ended("after").status == JobStatus.COMPLETED.value
        ghost = bench.ended("ghost")
    finally:
        bench.engine.stop()
    assert ghost.status == JobStatus.FAILED.value
    assert ghost.failure_reason is not None and ghost.failure_reason.startswith(
        "this workspace cannot run it: type: 'plugin-kind' is not a job type this workspace knows"
    )


# Cancel and timeout ----------------------------------------------------------------------------
def test_cancel_stops_a_running_job_at_once(bench: Bench) -> None:
    bench.queue("long")
    run = bench.launched("long")
    wait_for(lambda: bench.status("long") == JobStatus.RUNNING, "the job to run")
    bench.engine.cancel(bench.jobs.get("long"))
    assert run.stopped.wait(1)
    done = bench.ended("long")
    assert (done.status, done.failure_reason, done.exit_code) == (JobStatus.CANCELED.value, "canceled by the user", -15)


def test_cancel_of_a_queued_job_ends_it_without_running_it(tmp_path: Path) -> None:
    runner = FakeRunner(slots=0)  # nothing ever starts
    bench = make_bench(tmp_path, runner)
    bench.engine.start()
    try:
        row = bench.queue("waiting")
        bench.engine.cancel(bench.jobs.get("waiting"))
        done = bench.jobs.get("waiting")
    finally:
        bench.engine.stop()
    assert (done.status, done.failure_reason) == (JobStatus.CANCELED.value, "canceled by the user")
    assert bench.tracker.ended == {row.id: JobStatus.CANCELED} and runner.launched == {}


def test_a_cancel_asked_of_another_server_reaches_the_job_through_its_row(tmp_path: Path) -> None:
    runner = FakeRunner()
    bench = make_bench(tmp_path, runner, shared=True)
    bench.engine.start()
    try:
        row = bench.queue("elsewhere")
        run = bench.launched("elsewhere")
        bench.jobs.set_fields(row.id, cancel_requested=True)  # all another server can do
        assert run.stopped.wait(3)
        done = bench.ended("elsewhere")
    finally:
        bench.engine.stop()
    assert (done.status, done.failure_reason) == (JobStatus.CANCELED.value, "canceled by the user")


def test_limits_timeout_stops_the_job(bench: Bench) -> None:
    bench.queue("slow", limits={"timeout": 1})
    run = bench.launched("slow")
    assert run.stopped.wait(3)
    done = bench.ended("slow")
    assert run.ending == Ending(canceled=False, timed_out=True, timeout=1)
    assert done.status == JobStatus.FAILED.value
    assert done.failure_reason == "timed out: the job ran longer than limits.timeout (1 s) and was stopped"


# Kinds -----------------------------------------------------------------------------------------
def test_a_kind_registered_by_a_test_runs_through_its_own_handler(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    echo = JobKind("echo", spec=f"{__name__}:EchoJobSpec", handler=f"{__name__}:EchoJobHandler")
    monkeypatch.setitem(job_kinds._kinds, "echo", echo)  # registered for this test only
    monkeypatch.setattr(job_handlers, "_handlers", {})
    bench.queue("hello", spec={"type": "echo", "text": "hello"})
    bench.launched("hello").end(0)
    assert bench.ended("hello").status == JobStatus.COMPLETED.value
    assert bench.runner.launched["hello"][0] == "echo hello"
    (completed,) = bench.completed
    assert isinstance(completed.spec, EchoJobSpec)


# After a restart -------------------------------------------------------------------------------
def test_after_a_restart_jobs_are_readopted_requeued_or_closed(tmp_path: Path) -> None:
    local, gone_target = FakeRunner(), FakeRunner()
    before = make_bench(tmp_path, local, targets={"local": local, "cluster": gone_target})
    rows = {name: before.queue(name) for name in ("alive", "half-started", "vanished", "other-server")}
    rows["on-gone-cluster"] = before.queue("on-gone-cluster", compute="cluster")
    rows["preparing-on-gone-cluster"] = before.queue("preparing-on-gone-cluster", compute="cluster")
    for name in ("alive", "vanished", "on-gone-cluster"):
        before.jobs.set_fields(rows[name].id, status=JobStatus.RUNNING.value, server_id=SERVER, started_at=utcnow())
    for name in ("half-started", "preparing-on-gone-cluster"):
        before.jobs.set_fields(rows[name].id, status=JobStatus.PREPARING.value, server_id=SERVER)
    before.jobs.set_fields(rows["other-server"].id, status=JobStatus.RUNNING.value, server_id="server-b")
    for row in rows.values():
        before.folders.of(row.id).create()

    alive = FakeRun()
    local.adoptions = {"alive": alive, "half-started": None, "vanished": Outcome.failed("its process was gone")}
    after = make_bench(tmp_path, local, targets={"local": local})  # the cluster is no longer registered
    after.engine.recover()

    assert after.status("half-started") == JobStatus.QUEUED and after.jobs.get("half-started").server_id is None
    assert not after.folders.of(rows["half-started"].id).root.exists()
    assert after.status("preparing-on-gone-cluster") == JobStatus.QUEUED
    vanished = after.ended("vanished")
    assert (vanished.status, vanished.failure_reason) == (JobStatus.FAILED.value, "its process was gone")
    gone = after.ended("on-gone-cluster")
    assert gone.failure_reason == (
        "the job cannot be followed after a restart: compute target 'cluster' is no longer registered in this workspace"
    )
    assert after.status("other-server") == JobStatus.RUNNING  # another live server's job is left alone
    assert after.status("alive") == JobStatus.RUNNING
    after.engine.cancel(after.jobs.get("alive"))  # a re-adopted job is watched, so a cancel stops it at once
    assert alive.stopped.wait(1)
    assert after.ended("alive").status == JobStatus.CANCELED.value
