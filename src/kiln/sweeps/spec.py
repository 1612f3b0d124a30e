"""``type: sweep``: Azure ML's sweep job file, unchanged (``trial``, ``search_space``, ``sampling_algorithm``,
``objective``, ``early_termination``, ``limits``), and what it finds wrong in itself (``problems``, each naming
its field, so the SDK names the YAML line)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kiln.pipelines.component import ComponentSpec, component_file, read_component_reference
from kiln.specs.bounded import Command, EnvironmentVariables, Name, PathText, StrictModel
from kiln.specs.environment import EnvironmentSpec
from kiln.specs.job import (
    UPLOAD_PREFIX,
    JobDistribution,
    JobResources,
    JobSpecBase,
    Problem,
    ProcessJobSpec,
    Scalar,
)

JOB_TYPE = "sweep"
MAX_TRIALS = 1000
MAX_SWEEP_SECONDS = 90 * 24 * 3600
SEARCH_REFERENCE = re.compile(r"\$\{\{\s*search_space\.([A-Za-z0-9_.-]+)\s*\}\}")
# Azure ML's search space types and the fields each takes (its names)
PARAMETER_FIELDS: dict[str, tuple[str, ...]] = {
    "choice": ("values",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "loguniform": ("min_value", "max_value"),  # exponents: exp(uniform(min_value, max_value))
    "quniform": ("min_value", "max_value", "q"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),  # exp(normal(mu, sigma))
    "qnormal": ("mu", "sigma", "q"),
    "qlognormal": ("mu", "sigma", "q"),
}
ALL_PARAMETER_FIELDS = ("values", "upper", "min_value", "max_value", "q", "mu", "sigma")
POLICY_FIELDS: dict[str, tuple[str, ...]] = {
    "bandit": ("slack_factor", "slack_amount", "evaluation_interval", "delay_evaluation"),
    "median_stopping": ("evaluation_interval", "delay_evaluation"),
    "truncation_selection": ("truncation_percentage", "evaluation_interval", "delay_evaluation"),
}


class SearchParameter(StrictModel):
    """One dimension of the search space; which fields it takes depends on ``type`` (checked in ``problems``,
    so that a wrong type is named as such rather than as a mismatch with every possible shape)."""

    type: Name
    values: list[Scalar] | None = Field(None, max_length=MAX_TRIALS)
    upper: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    q: float | None = None
    mu: float | None = None
    sigma: float | None = None

    def problems(self, where: tuple[str, ...]) -> list[Problem]:
        takes = PARAMETER_FIELDS.get(self.type)
        if takes is None:
            known = ", ".join(PARAMETER_FIELDS)
            return [((*where, "type"), f"'{self.type}' is not a search space type of Azure ML (one of: {known})")]
        problems: list[Problem] = []
        for name in ALL_PARAMETER_FIELDS:
            given = getattr(self, name) is not None
            if name in takes and not given:
                problems.append(
                    ((*where, name), f"a {self.type} parameter needs '{name}' (it takes {', '.join(takes)})")
                )
            elif name not in takes and given:
                problems.append(((*where, name), f"not a field of {self.type} (it takes {', '.join(takes)})"))
        if problems:
            return problems
        if self.values is not None and not self.values:
            problems.append(((*where, "values"), "give at least one value"))
        if self.upper is not None and self.upper < 1:
            problems.append(
                ((*where, "upper"), f"must be at least 1 (randint draws from 0 to upper - 1), found {self.upper}")
            )
        if self.min_value is not None and self.max_value is not None and not self.min_value < self.max_value:
            problems.append(((*where, "max_value"), f"must be greater than min_value ({self.min_value})"))
        for name in ("q", "sigma"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                problems.append(((*where, name), f"must be greater than 0, found {value}"))
        return problems


class SamplingAlgorithm(StrictModel):
    type: Literal["random", "grid", "bayesian"]
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    rule: Literal["random", "sobol"] | None = Field(None, description="random sampling only")


class Objective(StrictModel):
    goal: Literal["minimize", "maximize"]
    primary_metric: Name


class EarlyTermination(StrictModel):
    """Azure ML's early termination policies (see docs/sweeps.md for their exact semantics here)."""

    type: Literal["bandit", "median_stopping", "truncation_selection"]
    evaluation_interval: int = Field(1, ge=1, le=10_000)
    delay_evaluation: int = Field(0, ge=0, le=10_000)
    slack_factor: float | None = Field(None, gt=0)
    slack_amount: float | None = Field(None, gt=0)
    truncation_percentage: int | None = Field(None, ge=1, le=99)

    def problems(self) -> list[Problem]:
        where = ("early_termination",)
        takes = POLICY_FIELDS[self.type]
        problems: list[Problem] = [
            ((*where, name), f"not a field of a {self.type} policy (it takes {', '.join(takes)})")
            for name in ("slack_factor", "slack_amount", "truncation_percentage")
            if getattr(self, name) is not None and name not in takes
        ]
        if self.type == "bandit" and (self.slack_factor is None) == (self.slack_amount is None):
            problems.append(((*where, "slack_factor"), "a bandit policy takes one of slack_factor and slack_amount"))
        if self.type == "truncation_selection" and self.truncation_percentage is None:
            problems.append(((*where, "truncation_percentage"), "a truncation_selection policy needs it (1 to 99)"))
        return problems


class SweepLimits(StrictModel):
    max_total_trials: int | None = Field(None, ge=1, le=MAX_TRIALS, description="default: the grid's size, or 20")
    max_concurrent_trials: int | None = Field(None, ge=1, le=MAX_TRIALS, description="default: max_total_trials")
    timeout: int | None = Field(None, gt=0, le=MAX_SWEEP_SECONDS, description="seconds for the whole sweep")
    trial_timeout: int | None = Field(None, gt=0, le=MAX_SWEEP_SECONDS, description="seconds for each trial")


class SweepTrial(StrictModel):
    """The command job each trial runs (Azure's inline ``trial``); inputs, outputs and compute are the sweep's."""

    command: Command
    code: PathText | None = None
    environment: PathText | EnvironmentSpec | None = None
    environment_variables: EnvironmentVariables = Field(default_factory=dict)
    distribution: JobDistribution | None = None
    resources: JobResources | None = None


class SweepJobSpec(ProcessJobSpec):
    """Azure ML's sweep job: trials of ``trial`` with parameters drawn from ``search_space``, each a child job."""

    type: Literal["sweep"] = "sweep"
    trial: SweepTrial | ComponentSpec | PathText = Field(
        description="an inline command job, a component (inline), or one named: azureml:NAME:VERSION, file:./x.yml"
    )
    search_space: dict[Name, SearchParameter] = Field(min_length=1, max_length=64)
    sampling_algorithm: Literal["random", "grid", "bayesian"] | SamplingAlgorithm = "random"
    objective: Objective
    early_termination: EarlyTermination | None = None
    limits: SweepLimits | None = None  # type: ignore[assignment]  # a sweep's limits are Azure's sweep limits

    def sampling(self) -> SamplingAlgorithm:
        given = self.sampling_algorithm
        return given if isinstance(given, SamplingAlgorithm) else SamplingAlgorithm(type=given)

    def sweep_limits(self) -> SweepLimits:
        return self.limits or SweepLimits()

    def timeout_seconds(self) -> int | None:
        return self.sweep_limits().timeout

    def problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for name, parameter in self.search_space.items():
            problems += parameter.problems(("search_space", name))
        declared = ", ".join(self.search_space)
        referenced = [(("inputs", key), value) for key, value in self.inputs.items() if isinstance(value, str)]
        if isinstance(self.trial, SweepTrial):
            referenced.append((("trial", "command"), self.trial.command))
        for loc, text in referenced:
            problems += [
                (loc, f"'${{{{search_space.{name}}}}}': '{name}' is not in search_space ({declared})")
                for name in SEARCH_REFERENCE.findall(text)
                if name not in self.search_space
            ]
        sampling = self.sampling()
        if sampling.rule is not None and sampling.type != "random":
            problems.append((("sampling_algorithm", "rule"), f"only random sampling takes a rule, not {sampling.type}"))
        if sampling.type == "grid":
            problems += [
                (("search_space", name, "type"), f"grid sampling takes choice parameters only, not {parameter.type}")
                for name, parameter in self.search_space.items()
                if parameter.type != "choice"
            ]
        if self.early_termination is not None:
            problems += self.early_termination.problems()
        limits = self.sweep_limits()
        if (
            limits.max_concurrent_trials
            and limits.max_total_trials
            and limits.max_concurrent_trials > limits.max_total_trials
        ):
            problems.append((("limits", "max_concurrent_trials"), "must not exceed limits.max_total_trials"))
        for field in ("code", "environment", "distribution", "resources"):
            if getattr(self, field) not in (None, {}):
                problems.append(((field,), f"in a sweep job, '{field}' belongs under trial (trial.{field})"))
        return problems

    def with_local_files(self, base_dir: Path) -> JobSpecBase:
        """``trial: file:./train.yml`` read (relative to the sweep file) into the spec, its code folder made a
        local path for the client to upload."""
        if isinstance(self.trial, str) and component_file(self.trial) is not None:
            return self.model_copy(update={"trial": read_component_reference(base_dir, self.trial, "trial")})
        return self

    def local_paths(self) -> dict[tuple[str, ...], str]:
        paths = super().local_paths()
        trial = self.trial
        if not isinstance(trial, str) and trial.code and not trial.code.startswith(UPLOAD_PREFIX):
            paths[("trial", "code")] = trial.code
        return paths

    def trial_summary(self) -> str:
        trial = self.trial
        if isinstance(trial, SweepTrial):
            return trial.command
        return f"component {trial if isinstance(trial, str) else trial.name}"


def search_value(value: Any, params: dict[str, Any]) -> Any:
    """An input's value for a trial: ``${{search_space.x}}`` is the trial's value of x (its type kept when the
    value is only the reference), a text naming some replaced in it; any other value as it is."""
    if not isinstance(value, str):
        return value
    whole = SEARCH_REFERENCE.fullmatch(value.strip())
    if whole is not None:
        return params[whole.group(1)]
    return trial_command(value, params)


def trial_command(command: str, params: dict[str, Any]) -> str:
    """``command`` with each ``${{search_space.x}}`` replaced by the trial's value of x."""
    return SEARCH_REFERENCE.sub(lambda match: str(params[match.group(1)]), command)
