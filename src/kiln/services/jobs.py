"""Job rules: validate and record a submission, show, list, cancel, stream logs, hand out outputs and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.artifacts.store import ArtifactStore
from kiln.clock import utcnow
from kiln.errors import AlreadyExists, Conflict, InvalidSpec, NotFound
from kiln.integrations.tensorboard import DEFAULT_LOG_DIR
from kiln.runners.local import JobFolder, LocalRunner
from kiln.services.computes import ComputeService
from kiln.services.job_environment import EnvironmentResolver
from kiln.services.job_inputs import JobInputs, PinnedInput
from kiln.services.uploads import UploadService
from kiln.specs.job import CommandJobSpec, JobInput, literal_input_value
from kiln.specs.views import ACTIVE_STATUSES, LOGS_OUTPUT, JobOutputView, JobStatus, JobView, MetricHistory
from kiln.specs.yaml_source import format_loc
from kiln.store.jobs import JobRepository
from kiln.store.tables import JobRow
from kiln.tracking.runs import RunTracker

LOCAL_COMPUTE = "local"
DEFAULT_OUTPUT = "default"  # the job's ./outputs
RESERVED_OUTPUTS = (DEFAULT_OUTPUT, LOGS_OUTPUT)
DEFAULT_EXPERIMENT = "Default"


def output_key(job_id: str, output: str) -> str:
    return f"jobs/{job_id}/outputs/{output}"


def log_key(job_id: str) -> str:
    return f"jobs/{job_id}/logs/std_log.txt"


def logs_folder(folder: JobFolder) -> Path:
    """Where a local job writes its TensorBoard logs (``./logs`` in its working directory)."""
    return folder.working_dir / DEFAULT_LOG_DIR


@dataclass
class JobService:
    jobs: JobRepository
    uploads: UploadService
    inputs: JobInputs
    environments: EnvironmentResolver
    store: ArtifactStore
    tracker: RunTracker
    runner: LocalRunner
    workspace_url: str
    wake_scheduler: Callable[[], None]  # tells the scheduler there is work
    computes: ComputeService  # what each compute target can run (an unknown one is refused)
    server_id: str | None = None  # this server, when several share the database

    # Submission ------------------------------------------------------------------------
    def submit(self, spec: CommandJobSpec, created_by: str | None = None) -> JobView:
        code_hash, pinned_inputs, environment = self._check(spec)
        return self._record(spec, code_hash, pinned_inputs, environment, created_by)

    def rerun(self, name: str, created_by: str | None = None) -> JobView:
        """A new job with the spec, code snapshot and pinned inputs of ``name``, in its recorded environment."""
        row = self.jobs.get(name)
        spec = CommandJobSpec.model_validate(row.spec)
        spec = spec.model_copy(update={"name": None, "tags": {**spec.tags, "kiln.rerun_of": row.name}})
        self._check_compute(spec)  # its compute target may be gone
        recorded = dict(row.environment or {})
        # the exact package list if the job got that far (else the spec is pinned again)
        exact = recorded.get("lock") or recorded.get("kind") == "server-interpreter"
        environment = recorded if exact else self.environments.pin(spec)
        return self._record(spec, row.code_hash, dict(row.pinned_inputs or {}), environment, created_by)

    def _record(
        self, spec: CommandJobSpec, code_hash: str | None, pinned_inputs: dict[str, PinnedInput],
        environment: dict[str, Any], created_by: str | None,
    ) -> JobView:  # fmt: skip
        experiment_name = spec.experiment_name or DEFAULT_EXPERIMENT
        experiment_id = self.tracker.experiment_id(experiment_name)
        tags = {str(k): str(v) for k, v in spec.tags.items()}
        tags.update(
            {"mlflow.source.name": spec.command[:500], "mlflow.source.type": "JOB", "kiln.compute": spec.compute_name}
        )
        if code_hash:
            tags["kiln.code_snapshot"] = code_hash
        if created_by:
            tags["mlflow.user"] = created_by  # MLflow's own "User" column
        run_id = self.tracker.create_run(experiment_id, spec.name, tags)
        name = spec.name or run_id
        try:
            if spec.name is None:
                self.tracker.rename_run(run_id, name)
            self.jobs.add(
                JobRow(
                    id=run_id,
                    name=name,
                    display_name=spec.display_name,
                    experiment_name=experiment_name,
                    experiment_id=experiment_id,
                    compute=spec.compute_name,
                    status=JobStatus.QUEUED.value,
                    spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                    code_hash=code_hash,
                    pinned_inputs=pinned_inputs,
                    environment=environment,
                    created_at=utcnow(),
                    created_by=created_by,
                )  # fmt: skip
            )
        except Exception:
            self.tracker.delete_run(run_id)  # nothing half-recorded
            raise
        self.wake_scheduler()
        return self.view(self.jobs.get(run_id))

    def _check_compute(self, spec: CommandJobSpec) -> None:
        """The compute target exists and can run the spec (its distribution, resources, input modes)."""
        problems = [f"{format_loc(loc)}: {message}" for loc, message in self.computes.problems(spec)]
        if problems:
            raise InvalidSpec("; ".join(problems))

    def _check(self, spec: CommandJobSpec) -> tuple[str | None, dict[str, PinnedInput], dict[str, Any]]:
        """Everything that can be wrong with a submission, found before anything is recorded."""
        problems = [f"{format_loc(loc)}: {message}" for loc, message in spec.reference_errors()]
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
        if spec.code:
            code_key, code_hash = self.uploads.resolve(spec.code, "code")
            if not self.store.is_dir(code_key):
                raise InvalidSpec("code: must be a folder")
        pinned_inputs = self.inputs.pin(spec)
        environment = self.environments.pin(spec)
        if spec.name and self.jobs.name_taken(spec.name):
            raise AlreadyExists(f"a job named '{spec.name}' already exists; pick another name or leave 'name' out")
        return code_hash, pinned_inputs, environment

    # Reading ---------------------------------------------------------------------------
    def view(self, row: JobRow, with_run_data: bool = False) -> JobView:
        spec = CommandJobSpec.model_validate(row.spec)
        params = metrics = None
        if with_run_data:
            params, metrics = self.tracker.params_and_metrics(row.id)
        ended = row.ended_at
        duration = (ended - row.started_at).total_seconds() if ended and row.started_at else None
        return JobView(
            id=row.id, name=row.name, display_name=row.display_name, experiment_name=row.experiment_name,
            experiment_id=row.experiment_id, status=JobStatus(row.status), compute=row.compute,
            command=spec.command, code_hash=row.code_hash, created_at=row.created_at,
            preparing_at=row.preparing_at, started_at=row.started_at, ended_at=ended,
            duration_seconds=duration, exit_code=row.exit_code, failure_reason=row.failure_reason,
            inputs={name: _input_summary(item) for name, item in spec.inputs.items()},
            outputs=self._outputs(row, spec), tags=dict(spec.tags),
            mlflow_run_url=f"{self.workspace_url}/mlflow/#/experiments/{row.experiment_id}/runs/{row.id}",
            pinned_inputs=dict(row.pinned_inputs or {}), environment=dict(row.environment or {}),
            gpu_ids=list(row.gpu_ids or []), server_id=row.server_id, created_by=row.created_by,
            submission_id=row.submission_id,
            params=params, metrics=metrics,
        )  # fmt: skip

    def _outputs(self, row: JobRow, spec: CommandJobSpec) -> list[JobOutputView]:
        declared = {name: (out.type if out else "uri_folder") for name, out in spec.outputs.items()}
        declared.update(dict.fromkeys(RESERVED_OUTPUTS, "uri_folder"))
        terminal = JobStatus(row.status).is_terminal
        return [
            JobOutputView(name=name, type=kind, available=terminal and self.store.exists(output_key(row.id, name)))
            for name, kind in declared.items()
        ]

    def get(self, name: str, with_run_data: bool = False) -> JobView:
        return self.view(self.jobs.get(name), with_run_data)

    def recorded_environment(self, name: str) -> dict[str, Any]:
        """What the job ran with: kind, name and version or inline spec, hash, python and exact packages."""
        environment = dict(self.jobs.get(name).environment or {})
        environment.pop("venv", None)  # a path on the server
        return environment

    def list(self, status: JobStatus | None, limit: int) -> list[JobView]:
        return [self.view(row) for row in self.jobs.recent([status] if status else None, limit)]

    # Cancel ----------------------------------------------------------------------------
    def cancel(self, name: str, grace: float) -> JobView:
        row = self.jobs.get(name)
        status = JobStatus(row.status)
        if status.is_terminal:
            raise Conflict(f"job '{row.name}' has already ended ({status.value}); there is nothing to cancel")
        if status == JobStatus.QUEUED and self.jobs.transition(
            row.id, [JobStatus.QUEUED], JobStatus.CANCELED, ended_at=utcnow(), failure_reason="canceled by the user"
        ):
            self.tracker.mark_ended(row.id, JobStatus.CANCELED)
            return self.get(row.id)
        self.jobs.set_fields(row.id, cancel_requested=True)
        row = self.jobs.get(row.id)
        mine = row.server_id is None or row.server_id == self.server_id
        if mine and row.pid and JobStatus(row.status) in ACTIVE_STATUSES:  # else its server's watcher ends it
            self.runner.terminate_tree(row.pid, grace)
        return self.view(row)

    # Logs and outputs -----------------------------------------------------------------------
    def follow_log(self, name: str, follow: bool, poll: float = 0.1) -> Iterator[bytes]:
        """The job's log from the start; with ``follow``, new lines until the job ends. An unknown job
        raises NotFound here, before anything is streamed."""
        return self._tail_log(self.jobs.get(name).id, follow, poll)

    def _tail_log(self, job_id: str, follow: bool, poll: float) -> Iterator[bytes]:
        offset = 0
        while True:
            terminal = JobStatus(self.jobs.get(job_id).status).is_terminal
            chunk = self._read_log(job_id, offset, terminal)
            offset += len(chunk)
            if chunk:
                yield chunk
            elif terminal or not follow:
                return
            else:
                time.sleep(poll)

    def _read_log(self, job_id: str, offset: int, terminal: bool) -> bytes:
        live = self.runner.folder(job_id).log
        try:
            if not terminal and live.exists():
                with live.open("rb") as handle:
                    handle.seek(offset)
                    return handle.read(1 << 20)
            if self.store.exists(log_key(job_id)):
                with self.store.open(log_key(job_id)) as handle:
                    handle.seek(offset)
                    return handle.read(1 << 20)
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
        live = logs_folder(self.runner.folder(row.id))
        if not (live.is_dir() and any(path.is_file() for path in live.rglob("*"))):
            raise NotFound(f"job '{row.name}' ({row.status}) has written nothing to ./logs yet")
        # the job may end (and its folder go) while this streams: the client then sees a cut-off archive
        return ArtifactStore(str(live.parent)).iter_tar(live.name, LOGS_OUTPUT)

    def metric_histories(self, name: str) -> dict[str, MetricHistory]:
        """Every value of every metric the job logged to MLflow, with steps and timestamps."""
        return self.tracker.metric_histories(self.jobs.get(name).id)


def _output_label(output: str) -> str:
    labels = {DEFAULT_OUTPUT: "./outputs (output 'default')", LOGS_OUTPUT: "./logs (output 'logs')"}
    return labels.get(output, f"output '{output}'")


def _input_summary(item: JobInput | object) -> Any:
    if isinstance(item, JobInput) and item.is_path():
        return {"type": item.type, "path": item.path, "mode": item.mode or "download"}
    return literal_input_value(item)  # type: ignore[arg-type]
