"""Pipelines written in Python, in the spirit of Azure ML's SDK v2 ``@pipeline``: the function's body calls
components (and inline command steps) as functions, wiring one step's outputs to the next's inputs; calling the
decorated function gives the same pipeline spec a ``type: pipeline`` YAML file would hold.

    from kiln.dsl import command, load_component, pipeline

    train = load_component("components/train.yml")           # a file: its inputs are known here
    score = load_component("azureml:iris_score@latest")      # a registered one: checked by the workspace

    @pipeline(experiment_name="iris", default_compute="local")
    def iris(test_size: float = 0.3, max_iter: int = 200):
        prep = command(command="python prep.py --test-size ${{inputs.test_size}} --out ${{outputs.data}}",
                       code="./src", inputs={"test_size": test_size}, outputs={"data": {"type": "uri_folder"}})
        trained = train(data=prep.outputs.data, max_iter=max_iter)
        scored = score(data=prep.outputs.data, model=trained.outputs.model)
        return {"report": scored.outputs.report}

    Client().jobs.create(iris(test_size=0.2).to_spec())

Each step is named after the variable it is assigned to in the function (``prep``, ``trained``, ``scored``), as in
Azure's SDK; a step not assigned to a variable is named after its component (``train``, ``train_2``…).
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from kiln.errors import InvalidSpec

__all__ = ["Input", "PipelineJob", "command", "load_component", "pipeline"]
_building = threading.local()


class Input:
    """A path input of a pipeline: ``Input(type="uri_folder", path="azureml:iris@latest")``."""

    def __init__(self, type: str = "uri_folder", path: str | None = None, mode: str | None = None) -> None:
        self.fields = {key: value for key, value in {"type": type, "path": path, "mode": mode}.items() if value}


class _Binding:
    """A value inside a pipeline's body: written as the binding it stands for."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _Outputs:
    def __init__(self, step: Step, names: list[str] | None) -> None:
        self._step, self._names = step, names

    def __getattr__(self, name: str) -> _Binding:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._names is not None and name not in self._names:
            raise InvalidSpec(
                f"step '{self._step.name}' has no output '{name}' (its outputs: {', '.join(self._names)})"
            )
        return _Binding(f"${{{{parent.jobs.{self._step.name}.outputs.{name}}}}}")


class Step:
    """One step of the pipeline being built (what calling a component inside ``@pipeline`` gives)."""

    def __init__(self, name: str, fields: dict[str, Any], outputs: list[str] | None) -> None:
        self.name, self.fields = name, fields
        self.outputs = _Outputs(self, outputs)
        self.output_bindings: dict[str, str] = {}


class Component:
    """A command component: from a file (its inputs and outputs known) or a registered reference."""

    def __init__(self, reference: str, spec: dict[str, Any] | None) -> None:
        self.reference, self.spec = reference, spec

    @property
    def name(self) -> str:
        if self.spec is not None:
            return str(self.spec["name"])
        return self.reference.split(":", 1)[-1].split(":")[0].split("@")[0]

    def __call__(self, **inputs: Any) -> Step:
        if self.spec is not None:
            unknown = sorted(set(inputs) - set(self.spec.get("inputs", {})))
            if unknown:
                declared = ", ".join(self.spec.get("inputs", {})) or "none"
                raise TypeError(f"component '{self.name}' has no input '{unknown[0]}' (its inputs: {declared})")
        outputs = list(self.spec.get("outputs", {})) if self.spec is not None else None
        return _builder().add(self.name, {"component": self.reference, "inputs": _values(inputs)}, outputs)


def load_component(source: str | Path) -> Component:
    """A component from its YAML file (``file:`` in the spec, read when it is submitted) or a registered one
    (``azureml:NAME:VERSION``, ``kiln:NAME@latest``…)."""
    text = str(source)
    if text.startswith(("azureml:", "kiln:")):
        return Component(text, None)
    from kiln.pipelines.component import read_component_file

    path = Path(text.removeprefix("file:")).resolve()
    spec, _ = read_component_file(path, "load_component")
    return Component(f"file:{path}", spec)


def command(
    *, command: str, code: str | None = None, environment: str | None = None, inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None, compute: str | None = None, name: str = "command",
) -> Step:  # fmt: skip
    """An inline command step (Azure's ``command()``): its command, code, environment, inputs and outputs."""
    fields: dict[str, Any] = {"type": "command", "command": command, "code": code, "environment": environment,
                              "compute": compute, "inputs": _values(inputs or {}), "outputs": dict(outputs or {})}  # fmt: skip
    return _builder().add(name, {k: v for k, v in fields.items() if v not in (None, {})}, list(outputs or {}))


class PipelineJob:
    """A pipeline built by a ``@pipeline`` function: ``to_spec()`` is its ``type: pipeline`` mapping."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec

    def to_spec(self) -> dict[str, Any]:
        return {key: value for key, value in self._spec.items() if value not in (None, {})}


def pipeline(
    function: Callable[..., Any] | None = None, *, name: str | None = None, display_name: str | None = None,
    description: str | None = None, experiment_name: str | None = None, compute: str | None = None,
    default_compute: str | None = None, continue_on_step_failure: bool | None = None, force_rerun: bool | None = None,
    tags: dict[str, str] | None = None,
) -> Any:  # fmt: skip
    """``@pipeline`` (bare or with its fields): the decorated function, called, gives a :class:`PipelineJob`."""

    def decorate(body: Callable[..., Any]) -> Callable[..., PipelineJob]:
        @functools.wraps(body)
        def build(*args: Any, **kwargs: Any) -> PipelineJob:
            signature = inspect.signature(body)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            inputs = {
                key: (value.fields if isinstance(value, Input) else value) for key, value in bound.arguments.items()
            }
            placeholders = {key: _Binding(f"${{{{parent.inputs.{key}}}}}") for key in bound.arguments}
            builder = _Builder()
            _building.builder = builder
            try:
                returned, names = _call_naming_steps(body, placeholders)
            finally:
                _building.builder = None
            outputs: dict[str, Any] = {}
            for output, value in (returned or {}).items():
                if not isinstance(value, _Binding) or ".outputs." not in value.text:
                    raise InvalidSpec(f"the pipeline's output '{output}' must be a step's output (step.outputs.NAME)")
                step, _, step_output = (
                    value.text.removeprefix("${{parent.jobs.").removesuffix("}}").partition(".outputs.")
                )
                builder.bind_output(step, step_output, output)
                outputs[output] = {"type": "uri_folder"}
            settings = {"default_compute": default_compute, "continue_on_step_failure": continue_on_step_failure,
                        "force_rerun": force_rerun}  # fmt: skip
            spec = {
                "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json",
                "type": "pipeline", "name": name, "display_name": display_name or body.__name__,
                "description": description or inspect.getdoc(body), "experiment_name": experiment_name,
                "compute": compute, "tags": dict(tags or {}), "inputs": inputs, "outputs": outputs,
                "settings": {key: value for key, value in settings.items() if value is not None},
                "jobs": builder.jobs(names),
            }  # fmt: skip
            return PipelineJob(spec)

        return build

    return decorate(function) if function is not None else decorate


class _Builder:
    def __init__(self) -> None:
        self.steps: list[Step] = []

    def add(self, name: str, fields: dict[str, Any], outputs: list[str] | None) -> Step:
        taken = {step.name for step in self.steps}
        unique, number = name, 1
        while unique in taken:
            number += 1
            unique = f"{name}_{number}"
        step = Step(unique, fields, outputs)
        self.steps.append(step)
        return step

    def bind_output(self, step: str, output: str, to: str) -> None:
        found = next((s for s in self.steps if s.name == step), None)
        if found is not None:
            found.output_bindings[output] = f"${{{{parent.outputs.{to}}}}}"

    def jobs(self, names: dict[int, str]) -> dict[str, Any]:
        """Each step under its variable's name (its bindings renamed with it), else its own."""
        renamed = {step.name: names.get(id(step), step.name) for step in self.steps}
        jobs = {}
        for step in self.steps:
            fields = _renamed(step.fields, renamed)
            if step.output_bindings:
                fields["outputs"] = {**fields.get("outputs", {}), **step.output_bindings}
            jobs[renamed[step.name]] = fields
        return jobs


def _builder() -> _Builder:
    builder: _Builder | None = getattr(_building, "builder", None)
    if builder is None:
        raise InvalidSpec("a component is called inside a @pipeline function only (it makes one of its steps)")
    return builder


def _values(inputs: dict[str, Any]) -> dict[str, Any]:
    return {key: (value.fields if isinstance(value, Input) else value) for key, value in inputs.items()}


def _renamed(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every binding written out, steps under their final names."""
    if isinstance(value, _Binding):
        text = value.text
        for old, new in names.items():
            text = text.replace(f"parent.jobs.{old}.outputs.", f"parent.jobs.{new}.outputs.")
        return text
    if isinstance(value, dict):
        return {key: _renamed(item, names) for key, item in value.items()}
    return value


def _call_naming_steps(body: Callable[..., Any], arguments: dict[str, Any]) -> tuple[Any, dict[int, str]]:
    """Call ``body`` and read, as it returns, which of its local variables hold steps (Azure names a step so)."""
    names: dict[int, str] = {}
    previous = sys.getprofile()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is body.__code__:
            for variable, value in frame.f_locals.items():
                if isinstance(value, Step):
                    names.setdefault(id(value), variable)

    sys.setprofile(profile)
    try:
        returned = body(**arguments)
    finally:
        sys.setprofile(previous)
    return returned, names
