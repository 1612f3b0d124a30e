"""A metric gate between two model versions: the request (``kiln model compare``) and its answer.

Each metric has a goal: ``max`` (higher is better) or ``min`` (lower is better). Left out, the goal is read from
the metric's name: names that hold loss, error, rmse, mse, mae, mape or perplexity minimise, any other
maximises; the table always shows the goal it used, and ``accuracy:max`` / ``rmse:min`` make it explicit.
The candidate passes a metric when it beats the baseline by at least ``min_delta`` in the goal's direction
(``min_delta`` 0: at least as good; a negative one allows that much regression).

A scored comparison (``data``: a data asset, ``label``: its column of true answers) does not read the runs: both
versions predict on the asset's rows (the label held out) and ``SCORED_METRICS`` are computed from those answers
with scikit-learn (``kiln.model_scoring``); only those names may be asked for then, each with its own goal."""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from kiln.errors import InvalidSpec
from kiln.specs.bounded import Name, PathText, StrictModel

Goal = Literal["max", "min"]
MAX_COMPARED_METRICS = 50
MAX_METRIC_NAME_LENGTH = 250  # MLflow's limit for a metric key
LOWER_IS_BETTER = re.compile(r"loss|error|rmse|mse|mae|mape|perplexity", re.I)
MAX_LABEL_LENGTH = 250
# what a scored comparison computes (kiln.model_scoring.metrics): name -> goal. Classification metrics compare
# labels (f1, precision and recall averaged over the classes, macro); regression ones compare numbers.
SCORED_METRICS: dict[str, Goal] = {
    "accuracy": "max", "f1": "max", "precision": "max", "recall": "max", "rmse": "min", "mae": "min", "r2": "max",
}  # fmt: skip


def default_goal(metric: str) -> Goal:
    """``min`` for names that say loss or error (``val_loss``, ``rmse``, ``error_rate``), else ``max``."""
    return "min" if LOWER_IS_BETTER.search(metric) else "max"


class MetricGate(StrictModel):
    name: str = Field(min_length=1, max_length=MAX_METRIC_NAME_LENGTH, description="the MLflow metric's key")
    goal: Goal | None = Field(None, description="max or min; left out: min for loss/error-like names, else max")
    min_delta: float = Field(0.0, description="how much better the candidate must be (negative: allowed regression)")

    @field_validator("min_delta")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("min_delta must be a finite number")
        return value

    @property
    def resolved_goal(self) -> Goal:
        return self.goal or default_goal(self.name)


class CompareRequest(StrictModel):
    """The body of ``models.compare``: two versions of one model (a number, ``latest`` or ``@ALIAS``) and the
    metrics of their source runs to compare."""

    candidate: Name = Field(description="a version number, latest, or an alias written @ALIAS (or ALIAS)")
    baseline: Name = Field(description="a version number, latest, or an alias written @ALIAS (or ALIAS)")
    metrics: list[MetricGate] = Field(min_length=1, max_length=MAX_COMPARED_METRICS)
    data: PathText | None = Field(
        None, description="score both versions on this data asset's rows instead: kiln:NAME:VERSION or kiln:NAME@latest"
    )
    label: str | None = Field(
        None, min_length=1, max_length=MAX_LABEL_LENGTH, description="with data: the column of true answers"
    )

    @model_validator(mode="after")
    def _scored_or_from_runs(self) -> CompareRequest:
        """With ``data``: a ``label`` and only scored metrics, each in its own direction; without: neither."""
        if self.data is None:
            if self.label is not None:
                raise ValueError("label: a label column is read from a data asset: name one with data (--data)")
            return self
        if self.label is None:
            raise ValueError("label: a scored comparison needs the data's column of true answers (--label COLUMN)")
        for gate in self.metrics:
            goal = SCORED_METRICS.get(gate.name)
            if goal is None:
                raise ValueError(
                    f"metrics: '{gate.name}' is not a metric kiln computes from scored rows (known: "
                    f"{', '.join(SCORED_METRICS)}); to compare the runs' own metrics, leave data out"
                )
            if gate.goal is not None and gate.goal != goal:
                raise ValueError(
                    f"metrics: '{gate.name}' is better when it is {'higher' if goal == 'max' else 'lower'}; "
                    f"write {gate.name} or {gate.name}:{goal}"
                )
        return self

    @property
    def scored(self) -> bool:
        return self.data is not None


class MetricComparison(BaseModel):
    metric: str
    goal: Goal
    candidate: float
    baseline: float
    delta: float = Field(description="candidate - baseline")
    min_delta: float
    passed: bool


class ModelComparison(BaseModel):
    """The gate's answer: the exact versions compared, one row per metric, and whether every row passed."""

    name: str
    candidate: str = Field(description="the candidate's exact version number")
    baseline: str = Field(description="the baseline's exact version number")
    candidate_job: str | None = Field(None, description="the job (MLflow run) whose metrics stood for the candidate")
    baseline_job: str | None = None
    data: str | None = Field(None, description="a scored comparison's data asset, NAME:VERSION exactly")
    rows_scored: int | None = Field(None, description="how many of its rows both versions predicted")
    rows: list[MetricComparison]
    passed: bool


def parse_metric_gate(text: str, min_delta: float = 0.0) -> MetricGate:
    """``accuracy``, ``accuracy:max``, ``rmse:min:0.01``: ``NAME[:GOAL[:MIN_DELTA]]`` as the CLI's ``--metric``
    takes it (``min_delta`` when the text gives none)."""
    name, _, rest = text.partition(":")
    goal, _, delta = rest.partition(":")
    if not name or goal not in ("", "max", "min"):
        raise InvalidSpec(f"--metric {text!r}: expected NAME, NAME:max, NAME:min or NAME:GOAL:MIN_DELTA")
    try:
        minimum = float(delta) if delta else min_delta
    except ValueError:
        raise InvalidSpec(f"--metric {text!r}: MIN_DELTA {delta!r} is not a number") from None
    if not math.isfinite(minimum):
        raise InvalidSpec(f"--metric {text!r}: MIN_DELTA must be a finite number")
    try:
        return MetricGate(name=name, goal=goal or None, min_delta=minimum)
    except ValidationError as error:
        raise InvalidSpec(f"--metric {text!r}: {error.errors()[0]['msg']}") from None
