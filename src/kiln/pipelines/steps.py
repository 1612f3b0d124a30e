"""A pipeline step as the command job it runs: its component's (or its own) command, code and environment, its
inputs bound (pipeline inputs, earlier steps' outputs as ``azureml://jobs/JOB/outputs/NAME``, literals) and
type-checked against what the component declares. Every mistake names its YAML path (``jobs.STEP.inputs.x``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kiln.errors import InvalidSpec
from kiln.pipelines.component import ComponentSpec, literal_problem, render_optional_blocks
from kiln.pipelines.spec import PipelineJobSpec, PipelineStep, binding_of
from kiln.specs.job import JOB_NAME_PATTERN, CommandJobSpec, JobInput, JobOutput, Scalar
from kiln.store.jobs import PARENT_TAG

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
    bound: dict[str, JobInput | Scalar] = {}
    if component is not None:
        unknown = sorted(set(step.inputs) - set(component.inputs))
        if unknown:
            raise InvalidSpec(
                f"{where}.inputs.{unknown[0]}: component '{component.name}' has no input '{unknown[0]}' "
                f"(its inputs: {', '.join(component.inputs) or 'none'})"
            )
        for key, declared in component.inputs.items():
            loc = f"{where}.inputs.{key}"
            if key not in step.inputs:
                if declared.default is not None:
                    bound[key] = declared.default
                elif not declared.optional:
                    raise InvalidSpec(
                        f"{loc}: component '{component.name}' needs input '{key}' ({declared.type}); give it under "
                        f"{where}.inputs, or make it optional in the component"
                    )
                continue
            value = _value(pipeline, step.inputs[key], loc, outputs_of)
            bound[key] = _typed(value, declared.type, declared.mode, loc)
        return bound
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


def _typed(value: JobInput | Scalar, input_type: str, mode: str | None, loc: str) -> JobInput | Scalar:
    """``value`` as an input of ``input_type``, or InvalidSpec naming ``loc``."""
    is_path_type = input_type in ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model")
    if is_path_type:
        if not isinstance(value, JobInput) or not value.is_path():
            shown = value.default if isinstance(value, JobInput) else value
            raise InvalidSpec(
                f"{loc}: a {input_type} input takes a path ({{type: {input_type}, path: …}}, a pipeline input or "
                f"${{{{parent.jobs.STEP.outputs.NAME}}}}), not the literal {shown!r}"
            )
        return value.model_copy(update={"type": input_type, "mode": mode or value.mode})
    if isinstance(value, JobInput):
        if value.is_path():
            raise InvalidSpec(f"{loc}: a {input_type} input takes a value, not the path {value.path!r}")
        value = value.default if value.default is not None else ""
    problem = literal_problem(input_type, value)
    if problem:
        raise InvalidSpec(f"{loc}: {problem}")
    return value
