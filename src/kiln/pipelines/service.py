"""The pipelines capability in the workspace server: command components (versioned, code pinned by hash), the
check of a pipeline at submit, and the pipeline loop: each round reads every active pipeline's steps (child jobs,
tagged ``kiln.parent``), starts those whose bindings are met (or records them reused), stops what must stop and
ends the pipeline. Every decision is made from what the database holds, so a restarted server carries on."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from kiln.capabilities.services import CapabilityContext
from kiln.clock import utcnow
from kiln.errors import Conflict, InvalidSpec, KilnError, NotFound
from kiln.jobs.folders import output_key
from kiln.jobs.handler import handler_of
from kiln.jobs.outcome import CANCELED_BY_USER
from kiln.jobs.parent_loop import ParentJobLoop
from kiln.pipelines.api import ComponentView
from kiln.pipelines.component import ComponentSpec
from kiln.pipelines.components import component_row, pinned_reference, resolve_component
from kiln.pipelines.job_outputs import REUSED_FROM_TAG, JobOutputInputs
from kiln.pipelines.spec import JOB_TYPE, PipelineJobSpec, binding_of
from kiln.pipelines.steps import PLACEHOLDER_JOB, STEP_TAG, OutputsOf, step_spec, sweep_step_spec
from kiln.services.jobs import private_inputs
from kiln.specs.job import UPLOAD_PREFIX, CommandJobSpec, JobInput, ProcessJobSpec
from kiln.specs.job_status import JobStatus
from kiln.specs.pins import InputPin, input_records
from kiln.specs.views import JobPlanView
from kiln.store.components import ComponentRepository
from kiln.store.jobs import JobFilters
from kiln.store.tables import ComponentRow, JobRow
from kiln.sweeps.spec import SweepJobSpec

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
WAKE_AFTER_SUBMIT_SECONDS = 0.05
REUSE_KEY_TAG = "kiln.pipeline.reuse_key"  # a step's identity: component (code, command, environment) and inputs
SKIPPED_TAG = "kiln.pipeline.skipped"  # on the pipeline's run: the steps not run because a step they need failed
LIVE = (JobStatus.QUEUED, JobStatus.PREPARING, JobStatus.RUNNING)


class PipelineService:
    def __init__(self, context: CapabilityContext) -> None:
        self.context = context
        self.jobs = context.jobs
        self.components = ComponentRepository(context.data.assets.sessions)
        context.jobs.add_submission_check(JOB_TYPE, self.check_submission)
        context.jobs.inputs.add_resolver(JobOutputInputs(context.jobs.jobs, context.artifacts))
        self._loop = ParentJobLoop("pipelines", context.jobs, self.advance_all, POLL_SECONDS)
        self._loop.start()

    def close(self) -> None:
        self._loop.close()

    # Components ------------------------------------------------------------------------------
    def create_component(self, spec: ComponentSpec, created_by: str | None) -> ComponentView:
        problems = [f"{'.'.join(loc)}: {message}" for loc, message in spec.problems()]
        if problems:
            raise InvalidSpec("; ".join(problems))
        code_hash = None
        if spec.code is not None:
            if not spec.code.startswith(UPLOAD_PREFIX):
                raise InvalidSpec(
                    f"code: '{spec.code[:200]}' is not an uploaded folder; kiln component create (and the SDK) upload "
                    "it, a REST client must POST it to /api/v1/uploads first"
                )
            key, code_hash = self.jobs.uploads.resolve(spec.code, "code")
            if not self.context.artifacts.is_dir(key):
                raise InvalidSpec("code: must be a folder")
        self.jobs.environments.pin_environment(spec.environment)  # an unknown environment is refused now
        version = spec.version or self._next_version(spec.name)
        if self.components.find(spec.name, version) is not None:
            raise Conflict(
                f"component {spec.name}:{version} exists already; a version is immutable: give another version, "
                "or leave 'version' out for the next one"
            )
        stored = spec.model_copy(update={"version": version}).model_dump(mode="json", by_alias=True, exclude_none=True)
        row = ComponentRow(
            name=spec.name, version=version, spec=stored, code_hash=code_hash, description=spec.description,
            created_at=utcnow(), created_by=created_by,
        )  # fmt: skip
        self.components.add(row)
        return component_view(row)

    def _next_version(self, name: str) -> str:
        numbers = [int(row.version) for row in self.components.versions(name) if row.version.isdigit()]
        return str(max(numbers, default=0) + 1)

    def list_components(self, name: str | None) -> list[ComponentView]:
        if name:
            rows = self.components.versions(name)
            if not rows:
                raise NotFound(f"component '{name}' not found (kiln component list shows the components there are)")
            return [component_view(row) for row in rows]
        return [component_view(row) for row in self.components.latest_of_each()]

    def get_component(self, name: str, version: str) -> ComponentView:
        return component_view(component_row(self.components, name, version, "component"))

    def component_of(self, spec: PipelineJobSpec, step: str) -> ComponentSpec | None:
        """The component of ``step`` (None for an inline command step or a sweep step), a registered one looked up."""
        return resolve_component(self.components, spec.jobs[step].component, f"jobs.{step}.component")

    def pinned_components(self, spec: PipelineJobSpec) -> PipelineJobSpec:
        """``spec`` with each registered component named by its exact version (``@latest`` resolved now)."""
        steps = {}
        for name, step in spec.jobs.items():
            pinned = pinned_reference(self.components, step.component, f"jobs.{name}.component")
            steps[name] = step.model_copy(update={"component": pinned}) if pinned else step
        return spec.model_copy(update={"jobs": steps})

    # Submit ----------------------------------------------------------------------------------
    def check_submission(self, spec: ProcessJobSpec, pins: dict[str, InputPin]) -> None:
        """Every step as the command job it will be, its components looked up and its inputs type-checked; the
        steps that read no other step's output checked as a submit would (compute, code, inputs, environment)."""
        if not isinstance(spec, PipelineJobSpec):
            return
        private = private_inputs(pins)
        if private:
            raise InvalidSpec(f"inputs: {', '.join(private)}: a pipeline's steps cannot read private data versions")
        needs = spec.dependencies()
        for name in spec.order():
            job = self._step_job(spec, "check", "check", name, lambda _: PLACEHOLDER_JOB)
            if not needs[name]:
                job = job.model_copy(update={"name": None})
                try:
                    self.jobs.validate(job, None, None)
                except KilnError as exc:
                    raise type(exc)(f"jobs.{name}.{exc.message}") from None
        # the submit records the pipeline's row just after this check: the loop looks a moment later, not a round
        self._loop.wake(after_seconds=WAKE_AFTER_SUBMIT_SECONDS)

    # A round ---------------------------------------------------------------------------------
    def advance_all(self) -> None:
        for row in self.jobs.jobs.of_type(JOB_TYPE, LIVE):
            try:
                self.advance(row)
            except KilnError as exc:  # a step refused at submit (its compute gone…): the pipeline says why
                self._cancel(self._live_children(row))
                self._end(row, JobStatus.FAILED, exc.message)
            except Exception as exc:
                log.exception("pipeline %s", row.name)
                self._cancel(self._live_children(row))
                self._end(row, JobStatus.FAILED, f"the pipeline failed: {type(exc).__name__}: {exc}")

    def advance(self, row: JobRow) -> None:
        """One round of the pipeline ``row``: start it, start the steps whose inputs are ready, stop what must stop,
        end it."""
        repository = self.jobs.jobs
        if row.status == JobStatus.QUEUED.value:
            spec = self.pinned_components(PipelineJobSpec.model_validate(row.spec))
            dumped = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
            if not repository.transition(
                row.id, [JobStatus.QUEUED], JobStatus.RUNNING, started_at=utcnow(), spec=dumped
            ):
                return
            self.context.tracker.mark_started(row.id)
            row = repository.get(row.id)
        spec = PipelineJobSpec.model_validate(row.spec)
        steps = self._steps(row)
        if row.cancel_requested:
            self._cancel([job for job in steps.values() if job.status in _LIVE_VALUES])
            self._end(row, JobStatus.CANCELED, CANCELED_BY_USER)
            return
        settings = spec.pipeline_settings()
        needs = spec.dependencies()
        failed = [name for name, job in steps.items() if job.status in _FAILED_VALUES]
        blocked: list[str] = []
        if not failed or settings.continue_on_step_failure:
            for name in spec.order():
                if name in steps:
                    continue
                needed = [steps.get(step) for step in needs[name]]
                if any(job is None and step in blocked for job, step in zip(needed, needs[name], strict=True)) or any(
                    job is not None and job.status in _FAILED_VALUES for job in needed
                ):
                    blocked.append(name)
                    continue
                if all(job is not None and job.status == JobStatus.COMPLETED.value for job in needed):
                    steps[name] = self._start(row, spec, name, steps)
        live = [job for job in steps.values() if job.status in _LIVE_VALUES]
        failed = [name for name, job in steps.items() if job.status in _FAILED_VALUES]
        if failed and not settings.continue_on_step_failure:
            self._cancel(live)
            self._end(row, JobStatus.FAILED, _failure(steps, failed, spec))
            return
        if live:
            return
        unfinished = [name for name in spec.jobs if name not in steps]
        if failed or unfinished:
            self._end(row, JobStatus.FAILED, _failure(steps, failed, spec, unfinished))
        else:
            self._keep_pipeline_outputs(row, spec, steps)
            self._end(row, JobStatus.COMPLETED, None)

    def _steps(self, row: JobRow) -> dict[str, JobRow]:
        return {
            str(child.spec.get("tags", {}).get(STEP_TAG)): child
            for child in self.jobs.jobs.children(row.name)
            if child.spec.get("tags", {}).get(STEP_TAG)
        }

    def _live_children(self, row: JobRow) -> list[JobRow]:
        return [child for child in self.jobs.jobs.children(row.name) if child.status in _LIVE_VALUES]

    def _start(self, row: JobRow, spec: PipelineJobSpec, name: str, steps: dict[str, JobRow]) -> JobRow:
        """Submit step ``name``, or record it reused when an earlier completed step was the same (a refusal names
        the step)."""
        try:
            return self._submit_or_reuse(row, spec, name, steps)
        except KilnError as exc:
            raise type(exc)(f"jobs.{name}.{exc.message}") from None

    def _step_job(
        self, spec: PipelineJobSpec, pipeline: str, pipeline_id: str, name: str, outputs_of: OutputsOf
    ) -> CommandJobSpec | SweepJobSpec:
        if spec.jobs[name].type == "sweep":
            return sweep_step_spec(spec, pipeline, pipeline_id, name, outputs_of)
        return step_spec(spec, pipeline, pipeline_id, name, self.component_of(spec, name), outputs_of)

    def _submit_or_reuse(self, row: JobRow, spec: PipelineJobSpec, name: str, steps: dict[str, JobRow]) -> JobRow:
        job = self._step_job(spec, row.name, row.id, name, lambda step: _origin(steps[step]))
        if isinstance(job, SweepJobSpec):  # a sweep step is not reused: its trials draw anew
            return self.jobs.jobs.get(self.jobs.submit(job, row.created_by).id)
        plan = self.jobs.validate(job, row.created_by, None)
        key = reuse_key(job, plan)
        deterministic = spec.jobs[name].is_deterministic
        component = self.component_of(spec, name)
        if component is not None:
            deterministic = deterministic and component.is_deterministic
        job = job.model_copy(update={"tags": {**job.tags, REUSE_KEY_TAG: key}})
        if deterministic and not spec.pipeline_settings().force_rerun:
            earlier = self._completed_with(key)
            if earlier is not None:
                return self._record_reused(row, job, earlier, plan)
        view = self.jobs.submit(job, row.created_by)
        return self.jobs.jobs.get(view.id)

    def _completed_with(self, key: str) -> JobRow | None:
        rows, _ = self.jobs.jobs.search(
            JobFilters(statuses=(JobStatus.COMPLETED,), tags={REUSE_KEY_TAG: key}), "created", False, 0, 1
        )
        return self.jobs.jobs.get(rows[0].id) if rows else None  # type: ignore[attr-defined]  # a JobListing

    def _record_reused(self, row: JobRow, job: CommandJobSpec, earlier: JobRow, plan: JobPlanView) -> JobRow:
        """The step recorded completed at once: its outputs are those of ``earlier``'s run (``reused_from``)."""
        origin = _origin(earlier)
        job = job.model_copy(update={"tags": {**job.tags, REUSED_FROM_TAG: origin}})
        tracker = self.context.tracker
        experiment_name = job.experiment_name or "Default"
        experiment_id = tracker.experiment_id(experiment_name)
        summary = handler_of(job).summary(job)
        run_tags = {str(k): str(v) for k, v in job.tags.items()}
        run_tags.update(
            {"mlflow.source.name": summary[:500], "mlflow.source.type": "JOB", "kiln.compute": earlier.compute}
        )
        if row.created_by:
            run_tags["mlflow.user"] = row.created_by
        run_id = tracker.create_run(experiment_id, job.name, run_tags)
        now = utcnow()
        self.jobs.jobs.add(
            JobRow(
                id=run_id, name=job.name or run_id, display_name=job.display_name, experiment_name=experiment_name,
                experiment_id=experiment_id, compute=earlier.compute, status=JobStatus.COMPLETED.value,
                spec=job.model_dump(mode="json", by_alias=True, exclude_none=True), code_hash=earlier.code_hash,
                pinned_inputs=input_records(plan.pinned_inputs), environment=earlier.environment, created_at=now,
                started_at=now, ended_at=now, exit_code=0, created_by=row.created_by,
                failure_reason=None,
            )
        )  # fmt: skip
        tracker.mark_ended(run_id, JobStatus.COMPLETED)
        return self.jobs.jobs.get(run_id)

    def _keep_pipeline_outputs(self, row: JobRow, spec: PipelineJobSpec, steps: dict[str, JobRow]) -> None:
        """Each ``${{parent.outputs.z}}`` a step's output binds: the pipeline's output z is a copy of it."""
        store = self.context.artifacts
        for name, step in spec.jobs.items():
            for output, value in step.outputs.items():
                binding = binding_of(value) if isinstance(value, str) else None
                if binding is None or binding.parent_output is None or name not in steps:
                    continue
                origin = self.jobs.jobs.find(_origin(steps[name]))
                if origin is not None:
                    store.copy(output_key(origin.id, output), output_key(row.id, binding.parent_output))

    def _cancel(self, jobs: list[JobRow]) -> None:
        for job in jobs:
            if job.cancel_requested:
                continue
            try:
                self.jobs.cancel(job.name)
            except Conflict:  # it ended after this round read it
                log.debug("pipeline step %s ended before its cancel", job.name)

    def _end(self, row: JobRow, status: JobStatus, reason: str | None) -> None:
        if self.jobs.jobs.transition(row.id, LIVE, status, ended_at=utcnow(), failure_reason=reason):
            self.context.tracker.mark_ended(row.id, status)


_LIVE_VALUES = {status.value for status in LIVE}
_FAILED_VALUES = {JobStatus.FAILED.value, JobStatus.CANCELED.value}


def _origin(job: JobRow) -> str:
    """The job whose outputs ``job``'s are: itself, or the step it reused."""
    return str(job.spec.get("tags", {}).get(REUSED_FROM_TAG) or job.name)


def _failure(
    steps: dict[str, JobRow], failed: list[str], spec: PipelineJobSpec, unfinished: list[str] | None = None
) -> str:
    parts = [f"step {name} {steps[name].status}" + (f": {steps[name].failure_reason}" if steps[name].failure_reason
                                                      else "") for name in failed]  # fmt: skip
    left = unfinished if unfinished is not None else [name for name in spec.jobs if name not in steps]
    if left:
        parts.append(f"not run: {', '.join(left)}")
    return "; ".join(parts)[:4000]


def reuse_key(job: CommandJobSpec, plan: JobPlanView) -> str:
    """What makes a step the same as an earlier one: its command, code (hash), environment (pin) and inputs
    (content hashes of data, literal values)."""
    inputs: dict[str, Any] = {}
    for name, value in job.inputs.items():
        pin = plan.pinned_inputs.get(name)
        if pin is not None:
            inputs[name] = getattr(pin, "content_hash", None) or pin.model_dump(mode="json")
        else:
            inputs[name] = value.model_dump(mode="json") if isinstance(value, JobInput) else value
    material = {
        "command": job.command, "code": plan.code_hash, "environment": plan.environment.model_dump(mode="json"),
        "environment_variables": job.environment_variables, "inputs": inputs,
        "outputs": {name: (out.type if out else None) for name, out in job.outputs.items()},
        "distribution": job.distribution.model_dump(mode="json") if job.distribution else None,
    }  # fmt: skip
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def component_view(row: ComponentRow) -> ComponentView:
    spec = row.spec
    return ComponentView(
        name=row.name, version=row.version, display_name=spec.get("display_name"), description=row.description,
        is_deterministic=spec.get("is_deterministic", True), inputs=spec.get("inputs", {}),
        outputs=spec.get("outputs", {}), command=spec.get("command", ""), code_hash=row.code_hash,
        environment=spec.get("environment"), spec=spec, created_at=row.created_at, created_by=row.created_by,
    )  # fmt: skip
