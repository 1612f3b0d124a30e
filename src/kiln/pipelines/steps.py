"""A pipeline step as the command job it runs: its component's (or its own) command, code and environment, its
inputs bound (pipeline inputs, earlier steps' outputs as ``azureml://jobs/JOB/outputs/NAME``, literals) and
type-checked against what the component declares. Every mistake names its YAML path (``jobs.STEP.inputs.x``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kiln.errors import InvalidSpec
from kiln.pipelines.component import ComponentSpec, bind_component_inputs, render_optional_blocks
from kiln.pipelines.spec import PipelineJobSpec, PipelineStep, binding_of
from kiln.specs.job import JOB_NAME_PATTERN, CommandJobSpec, JobInput, JobOutput, Scalar
from kiln.store.jobs import PARENT_TAG
from kiln.sweeps.spec import SweepJobSpec

STEP_TAG = "kiln.pipeline.step"  # a step job's tag: its step's name in the pipeline
PLACEHOLDER_JOB = "a-step-not-run-yet"
# the job whose outputs a step's outputs are: its own name, or the job it reused
OutputsOf = Callable[[str], str]


def step_spec(
    pipeline: PipelineJobSpec, pipeline_name: str, pipeline_id: str, name: str, component: ComponentSpec | None,
    outputs_of: OutputsOf,
) -> CommandJobSpec:  # fmt: skip
    """The command job of step ``name`` (``component``: its component, looked up; None for an inline step)."""
    step = pipeline.jobs[name]
    where = f"jobs.{name}"
    inputs = _bound_inputs(pipeline, step, component, where, outputs_of)
    settings = pipeline.pipeline_settings()
    compute = step.compute or settings.default_compute or pipeline.compute
    job_name = f"{pipeline_name}_{name}"
    tags = {**pipeline.tags, PARENT_TAG: pipeline_name, STEP_TAG: name, "mlflow.parentRunId": pipeline_id}
    common: dict[str, Any] = {
        "name": job_name if re.fullmatch(JOB_NAME_PATTERN, job_name) else None,
        "display_name": step.display_name or name, "experiment_name": pipeline.experiment_name,
        "compute": compute, "inputs": inputs, "limits": step.limits, "tags": tags,
        "distribution": step.distribution, "resources": step.resources,
    }  # fmt: skip
    if component is not None:
        given = {key for key, value in inputs.items() if value is not None}
        return _checked_job(where, {
            **common, "command": render_optional_blocks(component.command, given), "code": component.code,
            "environment": component.environment,
            "environment_variables": {**component.environment_variables, **step.environment_variables},
            "outputs": {key: JobOutput(type=item.type) for key, item in component.outputs.items()},
        })  # fmt: skip
    outputs = {key: (value if isinstance(value, JobOutput) else JobOutput()) for key, value in step.outputs.items()}
    return _checked_job(where, {
        **common, "command": step.command, "code": step.code, "environment": step.environment,
        "environment_variables": step.environment_variables, "outputs": outputs,
    })  # fmt: skip


def sweep_step_spec(
    pipeline: PipelineJobSpec, pipeline_name: str, pipeline_id: str, name: str, outputs_of: OutputsOf
) -> SweepJobSpec:
    """The sweep job of sweep step ``name``: its inputs bound (``${{search_space.x}}`` left for each trial), its
    outputs those its trial writes (a completed sweep's are its best trial's)."""
    from pydantic import ValidationError

    step = pipeline.jobs[name]
    where = f"jobs.{name}"
    inputs = {key: _value(pipeline, given, f"{where}.inputs.{key}", outputs_of) for key, given in step.inputs.items()}
    outputs = {key: (value if isinstance(value, JobOutput) else JobOutput()) for key, value in step.outputs.items()}
    job_name = f"{pipeline_name}_{name}"
    fields = {
        **step.sweep_fields(), "name": job_name if re.fullmatch(JOB_NAME_PATTERN, job_name) else None,
        "display_name": step.display_name or name, "experiment_name": pipeline.experiment_name,
        "compute": step.compute or pipeline.pipeline_settings().default_compute or pipeline.compute,
        "inputs": inputs, "outputs": outputs,
        "tags": {**pipeline.tags, PARENT_TAG: pipeline_name, STEP_TAG: name, "mlflow.parentRunId": pipeline_id},
    }  # fmt: skip
    try:
        spec = SweepJobSpec.model_validate({key: value for key, value in fields.items() if value is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidSpec(f"{where}.{'.'.join(str(part) for part in first['loc'])}: {first['msg']}") from None
    problems = [f"{where}.{'.'.join(loc)}: {message}" for loc, message in spec.problems()]
    if problems:
        raise InvalidSpec("; ".join(problems))
    return spec


def _checked_job(where: str, fields: dict[str, Any]) -> CommandJobSpec:
    from pydantic import ValidationError

    try:
        spec = CommandJobSpec.model_validate({key: value for key, value in fields.items() if value is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        raise InvalidSpec(f"{where}.{loc}: {first['msg']}") from None
    problems = [f"{where}.{'.'.join(loc)}: {message}" for loc, message in spec.problems()]
    if problems:
        raise InvalidSpec("; ".join(problems))
    return spec


def _bound_inputs(
    pipeline: PipelineJobSpec, step: PipelineStep, component: ComponentSpec | None, where: str, outputs_of: OutputsOf
) -> dict[str, JobInput | Scalar]:
    if component is not None:
        return bind_component_inputs(
            component, step.inputs, f"{where}.", lambda given, loc: _value(pipeline, given, loc, outputs_of)
        )
    bound: dict[str, JobInput | Scalar] = {}
    for key, given in step.inputs.items():
        value = _value(pipeline, given, f"{where}.inputs.{key}", outputs_of)
        if isinstance(given, JobInput) and isinstance(value, JobInput):
            value = value.model_copy(update={"type": given.type, "mode": given.mode or value.mode})
        bound[key] = value
    return bound


def _value(pipeline: PipelineJobSpec, given: JobInput | Scalar, loc: str, outputs_of: OutputsOf) -> JobInput | Scalar:
    """What a step's input is given, its binding followed."""
    binding = binding_of(given)
    if binding is None:
        return given
    if binding.input is not None:
        source = pipeline.inputs[binding.input]
        if isinstance(source, JobInput) and not source.is_path():
            return source.default if source.default is not None else ""
        return source
    job = outputs_of(binding.step or "")
    return JobInput(type="uri_folder", path=f"azureml://jobs/{job}/outputs/{binding.output}")
