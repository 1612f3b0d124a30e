"""``type: pipeline``: Azure ML's pipeline job file, unchanged: ``jobs`` (steps: inline command steps or a
``component``), their ``inputs``/``outputs`` bound with ``${{parent.inputs.x}}``, ``${{parent.jobs.STEP.outputs.y}}``
and ``${{parent.outputs.z}}``, the pipeline's own ``inputs``/``outputs`` and ``settings``; and what it finds wrong
in itself (``problems``, each naming its YAML path: unknown steps, inputs and outputs, a cycle)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kiln.pipelines.component import ComponentSpec, component_file, read_component_reference
from kiln.specs.bounded import Command, EnvironmentVariables, Name, PathText, ShortText, StrictModel
from kiln.specs.environment import EnvironmentSpec
from kiln.specs.job import (
    UPLOAD_PREFIX,
    JobDistribution,
    JobInput,
    JobLimits,
    JobOutput,
    JobResources,
    JobSpecBase,
    Problem,
    ProcessJobSpec,
    Scalar,
)
from kiln.specs.references import is_asset_reference
from kiln.specs.remote_paths import is_remote_path
from kiln.sweeps.spec import (
    EarlyTermination,
    Objective,
    SamplingAlgorithm,
    SearchParameter,
    SweepJobSpec,
    SweepLimits,
    SweepTrial,
)

JOB_TYPE = "pipeline"
SWEEP_ONLY = ("trial", "search_space", "sampling_algorithm", "objective", "early_termination")
MAX_STEPS = 100
BINDING = re.compile(
    r"^\s*\$\{\{\s*parent\.(?:inputs\.(?P<input>[\w-]+)|jobs\.(?P<step>[\w-]+)\.outputs\.(?P<output>[\w-]+)"
    r"|outputs\.(?P<parent_output>[\w-]+))\s*\}\}\s*$"
)
ANY_BINDING = re.compile(r"\$\{\{\s*parent\.")


@dataclass(frozen=True)
class Binding:
    """What a ``${{parent.…}}`` value names: a pipeline input, a step's output, or a pipeline output."""

    input: str | None = None
    step: str | None = None
    output: str | None = None
    parent_output: str | None = None


def binding_of(value: Any) -> Binding | None:
    """The binding a step's input or output value is (a text, or an input mapping's ``path``), if it is one."""
    text = value.path if isinstance(value, JobInput) else value
    if not isinstance(text, str):
        return None
    match = BINDING.match(text)
    if match is None:
        return None
    return Binding(match["input"], match["step"], match["output"], match["parent_output"])


class PipelineSettings(StrictModel):
    default_compute: Name | None = None
    default_datastore: PathText | None = Field(None, description="accepted for Azure files; kiln ignores it")
    continue_on_step_failure: bool = False
    force_rerun: bool = Field(False, description="run every step, even one that could reuse an earlier run")


class PipelineStep(StrictModel):
    """One step: an inline command job (``command``, ``code``…), a ``component`` (registered, a file, inline), or a
    sweep (``type: sweep``: Azure's sweep job fields, its ``trial`` inline or a component)."""

    type: Literal["command", "sweep"] = "command"
    component: PathText | ComponentSpec | None = None
    display_name: ShortText | None = None
    description: ShortText | None = None
    compute: Name | None = None
    command: Command | None = None
    code: PathText | None = None
    environment: PathText | EnvironmentSpec | None = None
    environment_variables: EnvironmentVariables = Field(default_factory=dict)
    distribution: JobDistribution | None = None
    resources: JobResources | None = None
    limits: JobLimits | SweepLimits | None = None
    inputs: dict[Name, JobInput | Scalar] = Field(default_factory=dict, max_length=64)
    outputs: dict[Name, JobOutput | str | None] = Field(default_factory=dict, max_length=64)
    is_deterministic: bool = True
    # a sweep step's fields (type: sweep)
    trial: SweepTrial | ComponentSpec | PathText | None = None
    search_space: dict[Name, SearchParameter] | None = Field(None, min_length=1, max_length=64)
    sampling_algorithm: Literal["random", "grid", "bayesian"] | SamplingAlgorithm | None = None
    objective: Objective | None = None
    early_termination: EarlyTermination | None = None

    def declared_outputs(self) -> set[str] | None:
        """The outputs the step has (None: its registered component's, known once it is looked up)."""
        component = self.trial if self.type == "sweep" else self.component
        if isinstance(component, ComponentSpec):
            return set(component.outputs) | set(self.outputs)
        if isinstance(component, str):
            return None
        return set(self.outputs)

    def sweep_fields(self) -> dict[str, Any]:
        """A sweep step's own fields, as its sweep job takes them."""
        limits = SweepLimits.model_validate(self.limits.model_dump(exclude_none=True)) if self.limits else None
        fields = {"trial": self.trial, "search_space": self.search_space, "objective": self.objective,
                  "sampling_algorithm": self.sampling_algorithm, "early_termination": self.early_termination,
                  "limits": limits}  # fmt: skip
        return {key: value for key, value in fields.items() if value is not None}


class PipelineJobSpec(ProcessJobSpec):
    """Azure ML's pipeline job: steps (``jobs``) run as child jobs in the order their bindings make."""

    type: Literal["pipeline"] = "pipeline"
    jobs: dict[Name, PipelineStep] = Field(min_length=1, max_length=MAX_STEPS)
    settings: PipelineSettings | None = None

    def pipeline_settings(self) -> PipelineSettings:
        return self.settings or PipelineSettings()

    def dependencies(self) -> dict[str, set[str]]:
        """Each step's steps: those whose outputs it binds."""
        needs: dict[str, set[str]] = {}
        for name, step in self.jobs.items():
            bound = (binding_of(value) for value in step.inputs.values())
            needs[name] = {binding.step for binding in bound if binding is not None and binding.step}
        return needs

    def order(self) -> list[str]:
        """The steps, each after the steps it binds (ValueError naming a cycle)."""
        needs = self.dependencies()
        done: list[str] = []
        visiting: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            if name in visiting:
                cycle = [*visiting[visiting.index(name) :], name]
                raise ValueError(" → ".join(cycle))
            visiting.append(name)
            for needed in sorted(needs[name] & set(self.jobs)):
                visit(needed)
            visiting.pop()
            done.append(name)

        for name in self.jobs:
            visit(name)
        return done

    def problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for field in ("code", "environment", "distribution", "resources"):
            if getattr(self, field) not in (None, {}):
                problems.append(((field,), f"in a pipeline job, '{field}' belongs to each step (jobs.STEP.{field})"))
        for name, step in self.jobs.items():
            problems += self._step_problems(name, step)
        if not problems:
            try:
                self.order()
            except ValueError as exc:
                problems.append((("jobs",), f"the steps' bindings make a cycle: {exc}; a step cannot wait on itself"))
        return problems

    def _step_problems(self, name: str, step: PipelineStep) -> list[Problem]:
        where = ("jobs", name)
        problems: list[Problem] = []
        if step.type == "sweep":
            problems += _sweep_step_problems(where, step)
        elif (step.component is None) == (step.command is None):
            problems.append((where, "a step has either a 'component' or a 'command' (an inline command step)"))
        if step.type == "command":
            problems += [
                ((*where, field), f"'{field}' is a sweep step's field (type: sweep)")
                for field in SWEEP_ONLY
                if getattr(step, field) is not None
            ]
            if isinstance(step.limits, SweepLimits):
                problems.append(((*where, "limits"), "a command step's limits take only 'timeout'"))
        if step.component is not None:
            for field in ("code", "environment", "command"):
                if getattr(step, field) is not None:
                    problems.append(((*where, field), f"a component step takes its {field} from its component"))
        for key, value in step.inputs.items():
            binding = binding_of(value)
            loc = (*where, "inputs", key)
            if binding is None:
                text = value.path if isinstance(value, JobInput) else value
                if isinstance(text, str) and ANY_BINDING.search(text):
                    problems.append((loc, f"'{text[:120]}' is not a binding kiln reads; use ${{{{parent.inputs.NAME}}}} "
                                          "or ${{parent.jobs.STEP.outputs.NAME}}"))  # fmt: skip
                continue
            problems += self._binding_problems(name, loc, binding)
        for key, output in step.outputs.items():
            if isinstance(output, str):
                bound = binding_of(output)
                if bound is None or bound.parent_output is None:
                    problems.append(((*where, "outputs", key), f"'{output[:120]}': a step's output binds only "
                                     "${{parent.outputs.NAME}} (or is declared: {type: uri_folder})"))  # fmt: skip
                elif bound.parent_output not in self.outputs:
                    problems.append(((*where, "outputs", key), _unknown("pipeline output", bound.parent_output,
                                                                       self.outputs)))  # fmt: skip
        return problems

    def _binding_problems(self, name: str, loc: tuple[str, ...], binding: Binding) -> list[Problem]:
        if binding.input is not None:
            if binding.input not in self.inputs:
                return [(loc, _unknown("pipeline input", binding.input, self.inputs))]
            return []
        if binding.parent_output is not None:
            return [(loc, "a step's input cannot bind a pipeline output; bind the step that writes it")]
        step = binding.step or ""
        if step not in self.jobs:
            return [(loc, _unknown("step", step, self.jobs))]
        if step == name:
            return [(loc, f"step '{name}' cannot read its own output")]
        outputs = self.jobs[step].declared_outputs()
        if outputs is not None and binding.output not in outputs:
            return [(loc, _unknown(f"output of step '{step}'", binding.output or "", outputs))]
        return []

    def with_local_files(self, base_dir: Path) -> JobSpecBase:
        """Each ``component: file:./x.yml`` (and a sweep step's ``trial: file:./x.yml``) read, relative to the
        pipeline file, into the step, its code folder made a local path for the client to upload."""
        steps = {}
        for name, step in self.jobs.items():
            for field in ("component", "trial"):
                given = getattr(step, field)
                if isinstance(given, str) and component_file(given) is not None:
                    read = read_component_reference(base_dir, given, f"jobs.{name}.{field}")
                    step = step.model_copy(update={field: read})
            steps[name] = step
        return self.model_copy(update={"jobs": steps})

    def local_paths(self) -> dict[tuple[str, ...], str]:
        paths = super().local_paths()
        for name, step in self.jobs.items():
            if step.code and not _is_reference(step.code):
                paths[("jobs", name, "code")] = step.code
            for field in ("component", "trial"):
                given = getattr(step, field)
                if isinstance(given, ComponentSpec | SweepTrial) and given.code and not _is_reference(given.code):
                    paths[("jobs", name, field, "code")] = given.code
            for key, value in step.inputs.items():
                if isinstance(value, JobInput) and value.is_path() and value.path and binding_of(value) is None:
                    if not _is_reference(value.path):
                        paths[("jobs", name, "inputs", key, "path")] = value.path
        return paths


def _sweep_step_problems(where: tuple[str, ...], step: PipelineStep) -> list[Problem]:
    """What a sweep step lacks or has too many of, then its sweep job's own problems, under its path."""
    problems: list[Problem] = [
        ((*where, field), f"a sweep step takes its {field} from its trial (jobs.STEP.trial.{field}, or a component)")
        for field in ("component", "command", "code", "environment")
        if getattr(step, field) is not None
    ]
    problems += [
        ((*where, field), f"a sweep step needs '{field}' (Azure's sweep job fields)")
        for field in ("trial", "search_space", "objective")
        if getattr(step, field) is None
    ]
    if problems:
        return problems
    sweep = SweepJobSpec.model_validate(
        {**step.sweep_fields(), "inputs": {k: v for k, v in step.inputs.items() if binding_of(v) is None}}
    )
    return [((*where, *loc), message) for loc, message in sweep.problems()]


def _is_reference(path: str) -> bool:
    return path.startswith(UPLOAD_PREFIX) or is_asset_reference(path) or is_remote_path(path) or "://" in path


def _unknown(what: str, name: str, known: Any) -> str:
    return f"'{name}' is no {what} (there are: {', '.join(sorted(known)) or 'none'})"
