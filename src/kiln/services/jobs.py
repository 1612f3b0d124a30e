"""Job rules: validate and record a submission of any registered kind, show, list, cancel, stream logs, hand out
outputs and metrics. Running jobs is the engine's (:mod:`kiln.jobs`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any, TypeVar

from pydantic import ConfigDict

from kiln.api.operation import sse_event
from kiln.artifacts.references import join_key
from kiln.artifacts.store import ArtifactStore
from kiln.clock import utcnow
from kiln.environments.resolver import EnvironmentResolver
from kiln.errors import AlreadyExists, Conflict, Forbidden, InvalidSpec, KilnError, NotFound
from kiln.jobs.engine import JobEngine
from kiln.jobs.folders import DEFAULT_OUTPUT, JobFolders, log_key, output_key
from kiln.jobs.handler import handler_of
from kiln.jobs.inputs import JobInputs
from kiln.jobs.job import process_spec
from kiln.logs import follow_log, read_chunk, read_from
from kiln.services.computes import ComputeService
from kiln.services.ended_outputs import EndedOutputs
from kiln.services.uploads import UploadService
from kiln.specs.job import UPLOAD_PREFIX, JobInput, JobSpecBase, ProcessJobSpec, literal_input_value
from kiln.specs.pins import EnvironmentPin, InputPin, environment_pin, input_pins, input_records
from kiln.specs.roles import Role
from kiln.specs.views import (
    LOGS_OUTPUT,
    JobFileView,
    JobMetricsView,
    JobOutputView,
    JobPlanView,
    JobStatus,
    JobView,
    MetricHistory,
)
from kiln.specs.yaml_source import format_loc
from kiln.store.jobs import JobFilters, JobListing, JobRepository
from kiln.store.tables import JobRow
from kiln.tracking.metric_series import After
from kiln.tracking.runs import RunTracker

RESERVED_OUTPUTS = (DEFAULT_OUTPUT, LOGS_OUTPUT)
RAW_READER = Role.OWNER  # = kiln.services.data.RAW_READER: who may read a private version's rows
SubmissionCheck = Callable[[ProcessJobSpec, dict[str, InputPin]], None]
# kiln privacy's: charge a job that reads private data versions what it declares, or refuse it; answers the tags
# that record the charges on the job (kept with its spec: what its registered models' privacy tags are made from)
PrivacyCharger = Callable[[ProcessJobSpec, dict[str, InputPin], str | None], dict[str, str]]
# a dry run's: refuse what the charger would refuse (InvalidSpec, Conflict), charging and recording nothing
PrivacyCheck = Callable[[ProcessJobSpec, dict[str, InputPin]], None]
DEFAULT_EXPERIMENT = "Default"


@dataclass
class JobService:
    jobs: JobRepository
    uploads: UploadService
    inputs: JobInputs
    environments: EnvironmentResolver
    store: ArtifactStore
    tracker: RunTracker
    folders: JobFolders  # where running jobs write (live logs)
    workspace_url: str
    engine: JobEngine  # runs the queued jobs; stops canceled ones
    computes: ComputeService  # what each compute target can run (an unknown one is refused)
    # per job type: what a capability checks at submit with the inputs pinned (data columns, a model's signature…)
    submission_checks: dict[str, SubmissionCheck] = field(default_factory=dict)
    privacy_charger: PrivacyCharger | None = None  # None: jobs reading private data versions are refused
    privacy_check: PrivacyCheck | None = None  # a dry run's: what the charger would refuse, charging nothing
    ended_outputs: EndedOutputs = field(init=False)  # what ended jobs kept, listed once each (their views show it)

    def __post_init__(self) -> None:
        self.ended_outputs = EndedOutputs(self.store)

    def add_submission_check(self, job_type: str, check: SubmissionCheck) -> None:
        """Have ``check`` look at every submission of ``job_type`` once its inputs are pinned, before anything is
        recorded (it raises InvalidSpec naming the field); a capability's service adds its kinds' checks."""
        self.submission_checks[job_type] = check

    # Submission ------------------------------------------------------------------------
    def submit(self, spec: JobSpecBase, created_by: str | None = None, role: Role | None = None) -> JobView:
        """Record a job of any registered kind (the engine runs it when its compute target has room). ``role``:
        the submitter's (a private data version is an input of owners' jobs only; None: not known, refused)."""
        process = process_spec(spec)
        code_hash, pinned_inputs, environment = self._check(process)
        ensure_private_inputs_readable(pinned_inputs, role)
        process = self._charge_privacy(process, pinned_inputs, created_by)
        return self._record(process, code_hash, pinned_inputs, environment, created_by)

    def validate(self, spec: JobSpecBase, created_by: str | None = None, role: Role | None = None) -> JobPlanView:
        """A dry run of ``submit``: every check a submit makes (the capabilities' submission checks, the privacy
        budget's sufficiency) with nothing recorded, charged, stored or created in MLflow. A path on the
        submitting machine (not yet uploaded) is reported in ``pending_uploads``: the client checked it."""
        process = process_spec(spec)
        pending = {
            format_loc(loc): value
            for loc, value in process.local_paths().items()
            if not value.startswith(UPLOAD_PREFIX)
        }
        code_hash, pinned_inputs, environment, notes = self._checked(process, set(pending))
        ensure_private_inputs_readable(pinned_inputs, role)
        self._charge_privacy(process, pinned_inputs, created_by, dry_run=True)
        spent = {"epsilon": process.privacy.epsilon, "delta": process.privacy.delta} if process.privacy else None
        stored = process.model_dump(mode="json", by_alias=True, exclude_none=True)
        return JobPlanView(
            type=process.type, name=process.name, display_name=process.display_name,
            experiment_name=process.experiment_name or DEFAULT_EXPERIMENT, compute=self.computes.target_of(process),
            command=handler_of(process).summary(process), code_hash=code_hash,
            inputs=stored.get("inputs", {}), outputs=stored.get("outputs", {}),
            pinned_inputs=pinned_inputs, environment=environment, pending_uploads=pending,
            privacy=spent if private_inputs(pinned_inputs) else None, notes=notes,
        )  # fmt: skip

    def rerun(self, name: str, created_by: str | None = None, role: Role | None = None) -> JobView:
        """A new job with the spec, code snapshot and pinned inputs of ``name``, in its recorded environment."""
        row = self.jobs.get(name)
        spec = process_spec(row.spec)
        spec = spec.model_copy(update={"name": None, "tags": {**spec.tags, "kiln.rerun_of": row.name}})
        self._check_compute(spec)  # its compute target may be gone
        recorded = environment_pin(row.environment)
        # the exact package list if the job got that far (else the spec is pinned again)
        environment = recorded if recorded.is_exact else self.environments.pin_environment(spec.environment)
        pinned_inputs = input_pins(row.pinned_inputs)
        ensure_private_inputs_readable(pinned_inputs, role)
        spec = self._charge_privacy(spec, pinned_inputs, created_by)  # a rerun spends again
        return self._record(spec, row.code_hash, pinned_inputs, environment, created_by)

    def _record(
        self, spec: ProcessJobSpec, code_hash: str | None, pinned_inputs: dict[str, InputPin],
        environment: EnvironmentPin, created_by: str | None,
    ) -> JobView:  # fmt: skip
        experiment_name = spec.experiment_name or DEFAULT_EXPERIMENT
        experiment_id = self.tracker.experiment_id(experiment_name)
        tags = {str(k): str(v) for k, v in spec.tags.items()}
        summary = handler_of(spec).summary(spec)
        compute = self.computes.target_of(spec)
        tags.update({"mlflow.source.name": summary[:500], "mlflow.source.type": "JOB", "kiln.compute": compute})
        if code_hash:
            tags["kiln.code_snapshot"] = code_hash
        if created_by:
            tags["mlflow.user"] = created_by  # MLflow's own "User" column
        run_id = self.tracker.create_run(experiment_id, spec.name, tags)  # without a name, named by its id
        name = spec.name or run_id
        try:
            self.jobs.add(
                JobRow(
                    id=run_id,
                    name=name,
                    display_name=spec.display_name,
                    experiment_name=experiment_name,
                    experiment_id=experiment_id,
                    compute=compute,
                    status=JobStatus.QUEUED.value,
                    spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                    code_hash=code_hash,
                    pinned_inputs=input_records(pinned_inputs),
                    environment=environment.record(),
                    created_at=utcnow(),
                    created_by=created_by,
                )  # fmt: skip
            )
        except Exception:
            self.tracker.delete_run(run_id)  # nothing half-recorded
            raise
        self.engine.wake()
        return self.view(self.jobs.get(run_id))

    def _charge_privacy(
        self, spec: ProcessJobSpec, pins: dict[str, InputPin], created_by: str | None, dry_run: bool = False
    ) -> ProcessJobSpec:
        """A job reading private data versions declares privacy: {epsilon, delta} and is charged it, or refused;
        the spec answered carries the charges in its tags (``dry_run``: only checked, through ``privacy_check``:
        nothing charged, the spec answered as it is)."""
        private = private_inputs(pins)
        if not private:
            return spec
        if spec.privacy is None:
            raise InvalidSpec(
                f"privacy: {', '.join(private)} is private data: declare what the job spends of its budget, "
                f"privacy: {{epsilon: 1.0, delta: 1.0e-6}}"
            )
        if self.privacy_charger is None:
            raise InvalidSpec(f"{', '.join(private)}: this workspace has no privacy capability to charge the job")
        if dry_run:
            if self.privacy_check is not None:
                self.privacy_check(spec, pins)
            return spec
        charged = self.privacy_charger(spec, pins, created_by)
        return spec.model_copy(update={"tags": {**spec.tags, **charged}})

    def _check_compute(self, spec: ProcessJobSpec) -> None:
        """The compute target exists and can run the spec (its distribution, resources, input modes)."""
        problems = [f"{format_loc(loc)}: {message}" for loc, message in self.computes.problems(spec)]
        if problems:
            raise InvalidSpec("; ".join(problems))

    def _check(self, spec: ProcessJobSpec) -> tuple[str | None, dict[str, InputPin], EnvironmentPin]:
        """Everything that can be wrong with a submission, found before anything is recorded."""
        code_hash, pinned_inputs, environment, _ = self._checked(spec, set())
        return code_hash, pinned_inputs, environment

    def _checked(
        self, spec: ProcessJobSpec, pending: set[str]
    ) -> tuple[str | None, dict[str, InputPin], EnvironmentPin, list[str]]:
        """``_check``, leaving out the ``pending`` fields (paths on the client, not uploaded: a dry run's), with
        notes on what that left unchecked."""
        notes: list[str] = []
        problems = [f"{format_loc(loc)}: {message}" for loc, message in spec.problems()]
        problems += [
            f"outputs.{name}: '{name}' is the name kiln gives ./{'outputs' if name == DEFAULT_OUTPUT else name}; "
            "give the output another name"
            for name in RESERVED_OUTPUTS
            if name in spec.outputs
        ]
        if problems:
            raise InvalidSpec("; ".join(problems))
        self._check_compute(spec)
        code_hash = None
        if spec.code and "code" not in pending:
            code_key, code_hash = self.uploads.resolve(spec.code, "code")
            if not self.store.is_dir(code_key):
                raise InvalidSpec("code: must be a folder")
        uploaded = {name: item for name, item in spec.inputs.items() if f"inputs.{name}.path" not in pending}
        pinned_inputs = self.inputs.pin(spec.model_copy(update={"inputs": uploaded}) if pending else spec)
        check = self.submission_checks.get(spec.type)
        if check is not None and any(field.startswith("inputs.") for field in pending):
            notes.append(f"the {spec.type} job's submission check runs at submit, once its local inputs are uploaded")
        elif check is not None:
            check(spec, pinned_inputs)
        environment = self.environments.pin_environment(spec.environment)
        if spec.name and self.jobs.name_taken(spec.name):
            raise AlreadyExists(f"a job named '{spec.name}' already exists; pick another name or leave 'name' out")
        return code_hash, pinned_inputs, environment, notes

    def ensure_outputs_readable(self, name_or_id: str, role: Role | None, what: str = "its outputs and log") -> None:
        """Forbidden unless ``role`` may read what a job wrote: a job that read a private data version may have
        written its rows anywhere it writes (outputs, log, MLflow artifacts), so those are for owners only. A
        name that is no job is let through (the caller answers NotFound, or MLflow its own runs)."""
        row = self.jobs.find(name_or_id)
        if row is None or (role is not None and role.allows(RAW_READER)):
            return
        private = private_inputs(input_pins(row.pinned_inputs))
        if private:
            who = f"a {role.value}" if role is not None else "not known to be an owner"
            raise Forbidden(
                f"job '{row.name}' read private data ({', '.join(private)}): {what} are for "
                f"{RAW_READER.and_above()} only (the caller is {who})"
            )

    # Reading ---------------------------------------------------------------------------
    def view(self, row: JobRow, with_run_data: bool = False) -> JobView:
        records = _Records(_parsed_spec(row.spec), environment_pin(row.environment), input_pins(row.pinned_inputs))
        return self._view(row, records, with_run_data)

    def _view(self, row: JobRow | JobListing, records: _Records, with_run_data: bool = False) -> JobView:
        """The view of a job's row (a ``JobRow``, or a list's ``JobListing``), its records parsed."""
        spec = records.spec
        params = metrics = None
        if with_run_data:
            params, metrics = self.tracker.params_and_metrics(row.id)
        ended, status = row.ended_at, JobStatus(row.status)
        duration = (ended - row.started_at).total_seconds() if ended and row.started_at else None
        return JobView(
            id=row.id, name=row.name, type=spec.type, display_name=row.display_name,
            experiment_name=row.experiment_name, experiment_id=row.experiment_id, status=status,
            compute=row.compute, command=spec.summary, code_hash=row.code_hash,
            created_at=row.created_at, preparing_at=row.preparing_at, started_at=row.started_at, ended_at=ended,
            duration_seconds=duration, exit_code=row.exit_code, failure_reason=row.failure_reason,
            inputs=spec.inputs, outputs=self._outputs(row.id, status, spec.outputs), tags=spec.tags,
            mlflow_run_url=f"{self.workspace_url}/mlflow/#/experiments/{row.experiment_id}/runs/{row.id}",
            pinned_inputs=records.inputs, environment=records.environment,
            gpu_ids=list(row.gpu_ids or []), server_id=row.server_id, created_by=row.created_by,
            submission_id=row.submission_id, isolation=row.isolation, params=params, metrics=metrics,
        )  # fmt: skip

    def _outputs(self, job_id: str, status: JobStatus, declared: dict[str, str]) -> list[JobOutputView]:
        kept = self.ended_outputs.kept(job_id) if status.is_terminal else frozenset()
        return [_output_view(name, kind, name in kept) for name, kind in declared.items()]

    def model_outputs(self, name: str) -> dict[str, tuple[str, str | None]]:
        """The job's outputs that register a model version when it completes: output → (model, version)."""
        spec = _parsed_spec(self.jobs.get(name).spec).spec
        return {
            output: (declared.name, declared.version)
            for output, declared in spec.outputs.items()
            if declared is not None and declared.name and declared.is_model()
        }

    def get(self, name: str, with_run_data: bool = False) -> JobView:
        return self.view(self.jobs.get(name), with_run_data)

    def recorded_environment(self, name: str) -> dict[str, Any]:
        """What the job ran with: kind, name and version or inline spec, hash, python and exact packages."""
        environment = dict(self.jobs.get(name).environment or {})
        environment.pop("venv", None)  # a path on the server
        return environment

    def list(self, status: JobStatus | None, limit: int) -> list[JobView]:
        return self._views(self.jobs.listing([status] if status else None, limit))

    def search(
        self, filters: JobFilters, sort: str = "created", descending: bool = True, offset: int = 0, limit: int = 50
    ) -> tuple[list[JobView], int]:
        """One page of the jobs that match ``filters`` (filtered, sorted and paged in the database), and the total."""
        rows, total = self.jobs.search(filters, sort, descending, offset, limit)
        return self._views(rows), total

    def _views(self, rows: list[JobListing]) -> list[JobView]:
        """The views of a list's rows (``VIEW_COLUMNS``). Each stored record's JSON text is parsed once for the jobs
        that share it: a spec (reruns, jobs submitted from one file), an environment (every job that ran in it),
        pinned inputs; the views share the parsed records (read-only: a view is answered, never changed)."""
        specs: dict[str | None, _ParsedSpec] = {}
        environments: dict[str | None, EnvironmentPin] = {}
        inputs: dict[str | None, dict[str, InputPin]] = {}
        views = []
        for row in rows:
            records = _Records(
                _parsed_once(specs, row.spec_json, _parsed_spec),
                _parsed_once(environments, row.environment_json, environment_pin),
                _parsed_once(inputs, row.pinned_inputs_json, input_pins),
            )
            views.append(self._view(row, records))
        return views

    def filter_choices(self) -> dict[str, list[str]]:
        """The experiments, creators and computes there are jobs of."""
        return self.jobs.choices()

    # Cancel ----------------------------------------------------------------------------
    def cancel(self, name: str) -> JobView:
        """Cancel a job that has not ended (Conflict if it has); the engine stops it where it runs."""
        row = self.jobs.get(name)
        status = JobStatus(row.status)
        if status.is_terminal:
            raise Conflict(f"job '{row.name}' has already ended ({status.value}); there is nothing to cancel")
        self.engine.cancel(row)
        return self.get(row.id)

    # Logs and outputs -----------------------------------------------------------------------
    def follow_log(self, name: str, follow: bool, poll: float = 0.1) -> Iterator[bytes]:
        """The job's log from the start; with ``follow``, new lines until the job ends (NotFound at once)."""
        job_id = self.jobs.get(name).id

        def read(offset: int) -> tuple[bytes, bool]:
            terminal = JobStatus(self.jobs.get(job_id).status).is_terminal
            return self._read_log(job_id, offset, terminal), terminal

        return follow_log(read, follow, poll)

    def _read_log(self, job_id: str, offset: int, terminal: bool) -> bytes:
        live = self.folders.of(job_id).log
        if not terminal and live.exists():
            return read_from(live, offset)
        try:
            if self.store.exists(log_key(job_id)):
                with self.store.open(log_key(job_id)) as handle:
                    return read_chunk(handle, offset)
        except OSError:
            pass
        return b""

    def output_archive(self, name: str, output: str) -> tuple[str, Iterator[bytes]]:
        """An output as a tar stream. ``logs`` can be read while the job runs (what it has written so far)."""
        row = self.jobs.get(name)
        view = self.view(row)
        known = {o.name: o for o in view.outputs}
        if output not in known:
            raise NotFound(f"job '{row.name}' has no output '{output}' (outputs: {', '.join(known)})")
        if output == LOGS_OUTPUT and not JobStatus(row.status).is_terminal:
            return output, self._live_logs_archive(row)
        if not JobStatus(row.status).is_terminal:
            raise Conflict(f"job '{row.name}' is {row.status}; its outputs can be downloaded once it has ended")
        if not known[output].available:
            raise NotFound(f"job '{row.name}' wrote nothing to {_output_label(output)}")
        return output, self.store.iter_tar(output_key(row.id, output), output)

    def _live_logs_archive(self, row: JobRow) -> Iterator[bytes]:
        folder = self.folders.of(row.id)
        live = folder.logs_dir.relative_to(folder.root).as_posix()
        # the job's own folder, read as a store rooted at the job's folder: no symbolic link it makes is followed
        files = ArtifactStore(str(folder.root))
        try:
            written = files.is_dir(live) and bool(files.list_files(live))
        except InvalidSpec:  # its ./logs (or the folder above) is a link
            written = False
        if not written:
            raise NotFound(f"job '{row.name}' ({row.status}) has written nothing to ./logs yet")
        # the job may end (and its folder go) while this streams: the client then sees a cut-off archive
        return files.iter_tar(live, LOGS_OUTPUT)

    def metric_histories(self, name: str) -> dict[str, MetricHistory]:
        """Every value of every metric the job logged to MLflow, with steps and timestamps."""
        return self.tracker.metric_histories(self.jobs.get(name).id)

    def metric_series(
        self, name: str, max_points: int | None, since_step: int | None = None, since_time: int | None = None
    ) -> dict[str, MetricHistory]:
        """The job's metrics for charts: each thinned to ``max_points`` (None: whole), after a step or a time."""
        run_id = self.jobs.get(name).id
        after = After(since_step) if since_step is not None else None
        series = self.tracker.metric_series(run_id, max_points, after)
        if since_time is not None:
            series = {key: _later_than(history, since_time) for key, history in series.items()}
        return series

    def metric_events(self, name: str, max_points: int, poll: float = 0.5) -> Iterator[str]:
        """Server-sent events: the series so far (thinned), then each poll's new points, until the job ends
        (then an ``end`` event with its status). NotFound at once for an unknown job."""
        job_id = self.jobs.get(name).id

        def events() -> Iterator[str]:
            after: dict[str, After] = {}
            limit: int | None = max_points
            while True:
                status = JobStatus(self.jobs.get(job_id).status)
                series = self.tracker.metric_series(job_id, limit, after)
                fresh = {key: history for key, history in series.items() if history.steps}
                if fresh:
                    for key, history in fresh.items():
                        after[key] = After(history.steps[-1], history.timestamps[-1])
                    yield sse_event("metrics", JobMetricsView(metrics=fresh).model_dump_json())
                if status.is_terminal:
                    yield sse_event("end", json.dumps({"status": status.value}))
                    return
                limit = max_points  # new points since the last poll: few, thinned only if the job logs a flood
                time.sleep(poll)

        return events()

    # Code snapshot and output files ---------------------------------------------------------
    def code_files(self, name: str) -> list[JobFileView]:
        return _file_views(self.store.file_sizes(self._code_key(name)))

    def code_file(self, name: str, path: str) -> IO[bytes]:
        return self._open_file(self._code_key(name), path)

    def _code_key(self, name: str) -> str:
        row = self.jobs.get(name)
        code = (row.spec or {}).get("code")
        if not code or not row.code_hash:
            raise NotFound(f"job '{row.name}' has no code snapshot (its spec names no 'code' folder)")
        return self.uploads.resolve(str(code), "code")[0]

    def output_files(self, name: str, output: str) -> list[JobFileView]:
        return _file_views(self.store.file_sizes(self._ended_output_key(name, output)))

    def output_file(self, name: str, output: str, path: str) -> IO[bytes]:
        return self._open_file(self._ended_output_key(name, output), path)

    def _ended_output_key(self, name: str, output: str) -> str:
        row = self.jobs.get(name)
        known = {o.name: o for o in self.view(row).outputs}
        if output not in known:
            raise NotFound(f"job '{row.name}' has no output '{output}' (outputs: {', '.join(known)})")
        if not JobStatus(row.status).is_terminal:
            raise Conflict(f"job '{row.name}' is {row.status}; its output files can be read once it has ended")
        if not known[output].available:
            raise NotFound(f"job '{row.name}' wrote nothing to {_output_label(output)}")
        return output_key(row.id, output)

    def _open_file(self, key: str, path: str) -> IO[bytes]:
        file_key = join_key(key, path, "path")
        if file_key == key or not self.store.exists(file_key) or self.store.is_dir(file_key):
            raise NotFound(f"path: there is no file '{path}' here (the file list shows the paths there are)")
        return self.store.open(file_key)


@lru_cache(maxsize=4096)  # a list's outputs repeat (default and logs, available or not): one view each, shared
def _output_view(name: str, kind: str, available: bool) -> JobOutputView:
    return JobOutputView(name=name, type=kind, available=available)


@dataclass(frozen=True)
class _ParsedSpec:
    """What a job's view shows of its spec: its kind, the one line its handler shows, its inputs (literal values,
    or a path input's type, path and mode), its declared outputs and their types (``./outputs`` and ``./logs``
    with them), its tags. A function of the stored spec alone."""

    spec: JobSpecBase
    type: str
    summary: str
    inputs: dict[str, Any]
    outputs: dict[str, str]
    tags: dict[str, Any]


def _parsed_spec(stored: dict[str, Any]) -> _ParsedSpec:
    spec, summary = _spec_and_summary(stored)
    outputs = {name: (out.type if out else "uri_folder") for name, out in spec.outputs.items()}
    outputs.update(dict.fromkeys(RESERVED_OUTPUTS, "uri_folder"))
    inputs = {name: _input_summary(item) for name, item in spec.inputs.items()}
    return _ParsedSpec(spec, spec.type, summary, inputs, outputs, dict(spec.tags))


@dataclass(frozen=True)
class _Records:
    """A job's stored records as its view reads them: its spec (parsed), its environment and its pinned inputs
    (typed)."""

    spec: _ParsedSpec
    environment: EnvironmentPin
    inputs: dict[str, InputPin]


Parsed = TypeVar("Parsed")


def _parsed_once(seen: dict[str | None, Parsed], text: str | None, parse: Callable[[Any], Parsed]) -> Parsed:
    """``parse`` of the JSON ``text`` (None: SQL NULL), from ``seen`` when the same text was parsed before."""
    if text in seen:
        return seen[text]
    parsed = seen[text] = parse(json.loads(text) if text is not None else None)
    return parsed


class _UnknownKindSpec(JobSpecBase):
    """The fields every job has, read from a job whose kind this server does not know (no longer registered)."""

    model_config = ConfigDict(extra="ignore")


def _spec_and_summary(stored: dict[str, Any]) -> tuple[JobSpecBase, str]:
    """A job's stored spec, parsed into its kind's class, and the one line its handler shows for it."""
    try:
        spec = process_spec(stored)
    except KilnError as exc:
        return _UnknownKindSpec.model_validate(stored), f"({exc.message})"
    return spec, handler_of(spec).summary(spec)


def _later_than(history: MetricHistory, since_time: int) -> MetricHistory:
    kept = [i for i, timestamp in enumerate(history.timestamps) if timestamp > since_time]
    return MetricHistory(
        steps=[history.steps[i] for i in kept],
        values=[history.values[i] for i in kept],
        timestamps=[history.timestamps[i] for i in kept],
    )


def _file_views(files: list[tuple[str, int]]) -> list[JobFileView]:
    return [JobFileView(path=path, size=size) for path, size in files]


def _output_label(output: str) -> str:
    labels = {DEFAULT_OUTPUT: "./outputs (output 'default')", LOGS_OUTPUT: "./logs (output 'logs')"}
    return labels.get(output, f"output '{output}'")


def _input_summary(item: JobInput | object) -> Any:
    if isinstance(item, JobInput) and item.is_path():
        return {"type": item.type, "path": item.path, "mode": item.mode or "download"}
    return literal_input_value(item)  # type: ignore[arg-type]


def private_inputs(pins: dict[str, InputPin]) -> list[str]:
    """The inputs that are private data versions (kiln privacy), as a message names them."""
    return [f"inputs.{n} (data asset {p.name}:{p.version})" for n, p in pins.items() if getattr(p, "private", False)]


def ensure_private_inputs_readable(pins: dict[str, InputPin], role: Role | None) -> None:
    """Forbidden when an input is a private data version and ``role`` may not read its rows (kiln privacy)."""
    private = private_inputs(pins)
    if private and (role is None or not role.allows(RAW_READER)):
        who = f"a {role.value}" if role is not None else "not known to be an owner"
        raise Forbidden(
            f"{', '.join(private)}: a private data version is an input of jobs submitted by "
            f"{RAW_READER.and_above()} only (the submitter is {who}); query it with kiln privacy query instead"
        )
