"""The sweep logic, in the workspace server: a loop reads each active sweep's trials (child jobs, tagged
``kiln.parent``) and their primary metric in MLflow, submits the next trials as the limits allow, cancels those
an early termination policy stops, and ends the sweep with its best trial recorded on its MLflow run. Every
decision is made from what the database and MLflow hold, so a restarted server carries on where it was."""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from kiln.capabilities.services import CapabilityContext
from kiln.clock import utcnow
from kiln.errors import Conflict, InvalidSpec, KilnError
from kiln.jobs.folders import DEFAULT_OUTPUT, output_key
from kiln.jobs.outcome import CANCELED_BY_USER
from kiln.jobs.parent_loop import ParentJobLoop
from kiln.pipelines.component import bind_component_inputs, render_optional_blocks
from kiln.pipelines.components import pinned_reference, resolve_component
from kiln.services.jobs import private_inputs
from kiln.specs.job import CommandJobSpec, JobLimits, JobOutput, ProcessJobSpec
from kiln.specs.pins import InputPin
from kiln.specs.views import JobStatus
from kiln.store.components import ComponentRepository
from kiln.store.jobs import PARENT_TAG
from kiln.store.tables import JobRow
from kiln.sweeps.early_termination import to_stop
from kiln.sweeps.sampling import Point, draw, total_trials, values_of
from kiln.sweeps.spec import JOB_TYPE, SweepJobSpec, SweepTrial, search_value, trial_command

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
TRIAL_TAG = "kiln.sweep.trial"  # the trial's number in its sweep
POINT_TAG = "kiln.sweep.point"  # its point in the unit cube (what the sampler drew), JSON
PARAMS_TAG = "kiln.sweep.params"  # its parameters' values, JSON
OBJECTIVE_TAG = "kiln.sweep.objective"  # the sweep's goal and primary metric ("minimize loss"), for views
BEST_TAG = "best_child_run_id"  # Azure ML's tag on the sweep's run
LIVE = (JobStatus.QUEUED, JobStatus.PREPARING, JobStatus.RUNNING)  # a job that has not ended
ENDED_HISTORIES_KEPT = 10_000  # ended trials whose primary metric's history is kept in memory (it no longer changes)


@dataclass
class Trial:
    row: JobRow
    point: Point
    params: dict[str, Any]
    value: float | None  # the primary metric's last value
    history: list[float]  # every value of the primary metric, in logged order


class SweepService:
    def __init__(self, context: CapabilityContext) -> None:
        self.context = context
        self.jobs = context.jobs
        self.components = ComponentRepository(context.data.assets.sessions)
        context.jobs.add_submission_check(JOB_TYPE, self.check_submission)
        # an ended trial's history, by its run id: a round reads MLflow only for the trials still running
        self._ended_histories: OrderedDict[str, list[float]] = OrderedDict()
        self._history_lock = threading.Lock()
        self._loop = ParentJobLoop("sweeps", context.jobs, self.advance_all, POLL_SECONDS)
        self._loop.start()

    def close(self) -> None:
        self._loop.close()

    # Submit --------------------------------------------------------------------------------
    def check_submission(self, spec: ProcessJobSpec, pins: dict[str, InputPin]) -> None:
        """What a sweep's first trial would be refused for, before the sweep is recorded."""
        if not isinstance(spec, SweepJobSpec):
            return
        private = private_inputs(pins)
        if private:
            raise InvalidSpec(f"inputs: {', '.join(private)}: a sweep's trials cannot read private data versions")
        first = self.trial_spec(spec, "check", 0, draw(spec, 0, []))
        problems = [f"trial.{'.'.join(loc)}: {message}" for loc, message in first.problems()]
        if problems:
            raise InvalidSpec("; ".join(problems))

    def trial_spec(
        self, spec: SweepJobSpec, sweep: str, index: int, point: Point, parent_id: str = ""
    ) -> CommandJobSpec:
        params = values_of(spec, point)
        timeout = spec.sweep_limits().trial_timeout
        fields: dict[str, Any] = {
            "name": f"{sweep}_{index}", "display_name": f"{spec.display_name or sweep} trial {index}",
            "experiment_name": spec.experiment_name, "compute": spec.compute,
            "limits": JobLimits(timeout=timeout) if timeout else None,
            "tags": {**spec.tags, PARENT_TAG: sweep, TRIAL_TAG: str(index), POINT_TAG: json.dumps(point),
                     PARAMS_TAG: json.dumps(params),
                     OBJECTIVE_TAG: f"{spec.objective.goal} {spec.objective.primary_metric}",
                     "mlflow.parentRunId": parent_id},
        }  # fmt: skip
        trial = spec.trial
        if isinstance(trial, SweepTrial):
            inputs = {key: search_value(value, params) for key, value in spec.inputs.items()}
            return CommandJobSpec(
                **fields, inputs=inputs, outputs=spec.outputs, command=trial_command(trial.command, params),
                code=trial.code, environment=trial.environment, environment_variables=trial.environment_variables,
                distribution=trial.distribution, resources=trial.resources,
            )  # fmt: skip
        return self._component_trial(spec, fields, params)

    def _component_trial(self, spec: SweepJobSpec, fields: dict[str, Any], params: dict[str, Any]) -> CommandJobSpec:
        """A trial of a component (Azure's ``trial: azureml:train:1``): its inputs are the sweep's ``inputs``
        (``${{search_space.x}}`` the trial's value of x) and each search space parameter an input of the
        component has and ``inputs`` does not bind, type-checked as a pipeline's step's are."""
        component = resolve_component(self.components, spec.trial, "trial")
        if component is None:  # the caller sent an inline command trial elsewhere
            raise InvalidSpec("trial: not a component")
        given: dict[str, Any] = {name: value for name, value in params.items() if name in component.inputs}
        given.update({key: search_value(value, params) for key, value in spec.inputs.items()})
        inputs = bind_component_inputs(component, given, "", lambda value, _: value)
        unknown = sorted(set(spec.outputs) - set(component.outputs))
        if unknown:
            raise InvalidSpec(
                f"outputs.{unknown[0]}: component '{component.name}' has no output '{unknown[0]}' "
                f"(its outputs: {', '.join(component.outputs) or 'none'})"
            )
        outputs = {key: spec.outputs.get(key) or JobOutput(type=item.type) for key, item in component.outputs.items()}
        present = {key for key, value in inputs.items() if value is not None}
        return CommandJobSpec(
            **fields, inputs=inputs, outputs=outputs, command=render_optional_blocks(component.command, present),
            code=component.code, environment=component.environment,
            environment_variables=component.environment_variables,
        )  # fmt: skip

    # A round ---------------------------------------------------------------------------------
    def advance_all(self) -> None:
        for row in self.jobs.jobs.of_type(JOB_TYPE, LIVE):
            try:
                self.advance(row)
            except KilnError as exc:  # a trial refused at submit (its compute gone…): the sweep says why
                self._end(row, JobStatus.FAILED, exc.message)
            except Exception as exc:
                log.exception("sweep %s", row.name)
                self._end(row, JobStatus.FAILED, f"the sweep failed: {type(exc).__name__}: {exc}")

    def advance(self, row: JobRow) -> None:
        """One step of the sweep ``row``: start it, stop what must stop, submit the next trials, end it."""
        repository = self.jobs.jobs
        if row.status == JobStatus.QUEUED.value:
            spec = SweepJobSpec.model_validate(row.spec)
            pinned = pinned_reference(self.components, spec.trial, "trial")  # @latest: the version it is now
            update = {"spec": {**row.spec, "trial": pinned}} if pinned else {}
            if repository.transition(row.id, [JobStatus.QUEUED], JobStatus.RUNNING, started_at=utcnow(), **update):
                self.context.tracker.mark_started(row.id)
            return
        spec = SweepJobSpec.model_validate(row.spec)
        trials = self.trials(row, spec)
        active = [trial for trial in trials if trial.row.status in LIVE]
        if row.cancel_requested:
            self._cancel(active)
            self._end(row, JobStatus.CANCELED, CANCELED_BY_USER, trials, spec)
            return
        metric = spec.objective.primary_metric
        for trial in trials:
            if trial.row.status == JobStatus.COMPLETED.value and trial.value is None:
                self._cancel(active)
                self._end(
                    row, JobStatus.FAILED,
                    f"objective.primary_metric: trial {trial.row.name} completed without logging '{metric}' to "
                    "MLflow (mlflow.log_metric); the trials must log the metric the sweep optimizes",
                )  # fmt: skip
                return
        timeout = spec.sweep_limits().timeout
        if timeout and row.started_at and (utcnow() - row.started_at).total_seconds() > timeout:
            self._cancel(active)
            self._end(row, JobStatus.COMPLETED, None, trials, spec, note=f"limits.timeout ({timeout} s) reached")
            return
        if spec.early_termination is not None:
            stopped = to_stop(spec, [(t.row.name, t.history, t.row.status) for t in trials])
            self._cancel([trial for trial in active if trial.row.name in stopped])
        total = total_trials(spec)
        concurrent = spec.sweep_limits().max_concurrent_trials or total
        room = min(concurrent - len(active), total - len(trials))
        finished = [(t.point, t.value) for t in trials if t.value is not None and t.row.status == "completed"]
        for index in range(len(trials), len(trials) + max(room, 0)):
            trial = self.trial_spec(spec, row.name, index, draw(spec, index, finished), row.id)
            self.jobs.submit(trial, row.created_by)
        if room <= 0 and not active and len(trials) >= total:
            self._end(row, JobStatus.COMPLETED, None, trials, spec)

    def trials(self, row: JobRow, spec: SweepJobSpec) -> list[Trial]:
        metric = spec.objective.primary_metric
        trials = []
        for child in self.jobs.jobs.children(row.name):
            tags = child.spec.get("tags", {})
            history = self._history(child, metric)
            trials.append(
                Trial(child, json.loads(tags.get(POINT_TAG, "{}")), json.loads(tags.get(PARAMS_TAG, "{}")),
                      history[-1] if history else None, history)
            )  # fmt: skip
        return trials

    def _history(self, trial: JobRow, metric: str) -> list[float]:
        """Every value of ``metric`` the trial logged, in order; an ended trial's read from MLflow once (its
        metrics are written before its row says it ended, and never after)."""
        if trial.status == JobStatus.QUEUED.value:
            return []
        key = f"{trial.id} {metric}"
        with self._history_lock:
            if key in self._ended_histories:
                self._ended_histories.move_to_end(key)
                return self._ended_histories[key]
        series = self.context.tracker.metric_histories(trial.id).get(metric)
        history = list(series.values) if series else []
        if JobStatus(trial.status).is_terminal:
            with self._history_lock:
                self._ended_histories[key] = history
                while len(self._ended_histories) > ENDED_HISTORIES_KEPT:
                    self._ended_histories.popitem(last=False)
        return history

    def _cancel(self, trials: list[Trial]) -> None:
        for trial in trials:
            if trial.row.cancel_requested:
                continue
            try:
                self.jobs.cancel(trial.row.name)
            except Conflict:  # it ended after this round read it: nothing is left to stop
                log.debug("sweep trial %s ended before its cancel", trial.row.name)

    def _end(
        self, row: JobRow, status: JobStatus, reason: str | None, trials: list[Trial] | None = None,
        spec: SweepJobSpec | None = None, note: str | None = None,
    ) -> None:  # fmt: skip
        """End the sweep with ``status``, its best trial (if any) recorded on its MLflow run."""
        best = best_trial(spec, trials or []) if spec is not None else None
        if best is not None and spec is not None:
            tags = {BEST_TAG: best.row.id, "kiln.sweep.best_trial": best.row.name}
            if note:
                tags["kiln.sweep.note"] = note
            params = {name: str(value) for name, value in best.params.items()}
            self.context.tracker.record(row.id, tags, params, {spec.objective.primary_metric: best.value or 0.0})
        if status == JobStatus.COMPLETED and best is None:
            status, reason = JobStatus.FAILED, reason or "no trial completed"
        if status == JobStatus.COMPLETED and best is not None and spec is not None:
            self._keep_best_outputs(row, spec, best)
        if self.jobs.jobs.transition(row.id, LIVE, status, ended_at=utcnow(), failure_reason=reason):
            self.context.tracker.mark_ended(row.id, status)

    def _keep_best_outputs(self, row: JobRow, spec: SweepJobSpec, best: Trial) -> None:
        """The sweep's outputs are its best trial's (Azure's): each a copy, kept before the sweep's row says it
        ended (what an ended job kept is listed once and never changes after)."""
        store = self.context.artifacts
        for name in (*best.row.spec.get("outputs", {}), DEFAULT_OUTPUT):
            store.copy(output_key(best.row.id, name), output_key(row.id, name))


def best_trial(spec: SweepJobSpec, trials: list[Trial]) -> Trial | None:
    scored = [trial for trial in trials if trial.value is not None and trial.row.status == JobStatus.COMPLETED.value]
    if not scored:
        return None
    pick = min if spec.objective.goal == "minimize" else max
    return pick(scored, key=lambda trial: trial.value or 0.0)
