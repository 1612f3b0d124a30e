"""``type: responsible_ai``: the job file's shape (YAML schema, REST body, SDK argument).

The model and the two tables become the job's inputs (``model``, ``train_data``, ``test_data``), so the
engine pins them at submit (``kiln:credit@latest`` → an exact version, kept for lineage) and puts them in
place as for any job; the report is the output ``report`` and a mitigated model the output
``mitigated_model``, registered as a new version of ``fairness.mitigation.register_as`` when the job
completes. What needs the stored data (columns, the model's signature) is checked at submit by the
capability's service (:mod:`kiln.rai.service`); what the file alone shows, here.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kiln.specs.bounded import MAX_NAME_LENGTH, Name, PathText, StrictModel
from kiln.specs.job import JobInput, JobOutput, Problem, ProcessJobSpec

JOB_TYPE = "responsible_ai"
MODEL_INPUT, TRAIN_INPUT, TEST_INPUT = "model", "train_data", "test_data"
REPORT_OUTPUT, MITIGATED_OUTPUT = "report", "mitigated_model"
REGISTER_AS_TAG = "rai.register_as"  # the job's tag naming the model a mitigated version is registered under
DERIVED_INPUTS = (MODEL_INPUT, TRAIN_INPUT, TEST_INPUT)
EXPLANATION_METHODS = ("auto", "shap", "morris", "partial_dependence", "lime")
CLASSIFICATION_METRICS = (
    "accuracy", "balanced_accuracy", "precision", "recall", "f1", "selection_rate", "false_positive_rate",
    "false_negative_rate", "true_positive_rate", "true_negative_rate", "count",
)  # fmt: skip
REGRESSION_METRICS = ("mean_absolute_error", "mean_squared_error", "r2", "mean_prediction", "count")
CLASSIFICATION_ONLY = sorted(set(CLASSIFICATION_METRICS) - set(REGRESSION_METRICS))
MITIGATION_METHODS = ("exponentiated_gradient", "grid_search", "threshold_optimizer")
REDUCTIONS = ("exponentiated_gradient", "grid_search")
CONSTRAINTS = (
    "demographic_parity", "equalized_odds", "true_positive_rate_parity", "false_positive_rate_parity",
    "error_rate_parity",
)  # fmt: skip
THRESHOLD_CONSTRAINTS = (
    "demographic_parity", "equalized_odds", "true_positive_rate_parity", "false_positive_rate_parity",
    "true_negative_rate_parity", "false_negative_rate_parity",
)  # fmt: skip
MAX_LOCAL_ROWS = 50
MAX_SENSITIVE = 4
COLUMN = re.compile(r"^[^\x00-\x1f]{1,200}$")


class Explanation(StrictModel):
    global_: bool = Field(True, alias="global", description="Global feature importances.")
    local_rows: list[int] = Field(
        default_factory=list,
        max_length=MAX_LOCAL_ROWS,
        description="Rows of test_data (0-based) to explain one by one.",
    )
    method: Literal["auto", "shap", "morris", "partial_dependence", "lime"] = Field(
        "auto",
        description="auto: SHAP kernel if installed, else LIME, else Morris sensitivity (the report says which).",
    )
    sample_rows: int = Field(
        100, ge=10, le=5000, description="Test rows explained to build global importances (a random sample)."
    )
    background_rows: int = Field(50, ge=5, le=1000, description="Training rows the black-box explainers compare to.")

    @field_validator("local_rows")
    @classmethod
    def _rows_not_negative(cls, rows: list[int]) -> list[int]:
        if any(row < 0 for row in rows):
            raise ValueError("rows are counted from 0; a negative row is not a row")
        return rows


class Mitigation(StrictModel):
    method: Literal["exponentiated_gradient", "grid_search", "threshold_optimizer"]
    constraint: Literal[
        "demographic_parity", "equalized_odds", "true_positive_rate_parity", "false_positive_rate_parity",
        "error_rate_parity", "true_negative_rate_parity", "false_negative_rate_parity",
    ] = "demographic_parity"  # fmt: skip
    register_as: Name | None = Field(None, description="Register the mitigated model as a new version of this model.")
    sensitive_feature: str | None = Field(
        None, description="The sensitive column the constraint is about (default: the first of sensitive_features)."
    )
    max_iter: int = Field(50, ge=1, le=1000, description="exponentiated_gradient's iterations.")
    grid_size: int = Field(10, ge=2, le=200, description="grid_search's number of Lagrange multipliers tried.")


class Fairness(StrictModel):
    sensitive_features: list[str] = Field(min_length=1, max_length=MAX_SENSITIVE)
    metrics: list[str] = Field(default_factory=lambda: ["accuracy", "selection_rate"], min_length=1, max_length=12)
    mitigation: Mitigation | None = None

    @field_validator("sensitive_features")
    @classmethod
    def _columns(cls, names: list[str]) -> list[str]:
        for name in names:
            if not COLUMN.match(name):
                raise ValueError(f"{name[:40]!r} is not a column name")
        if len(set(names)) != len(names):
            raise ValueError("each sensitive feature is named once")
        return names


class ResponsibleAiJobSpec(ProcessJobSpec):
    """Explanations (InterpretML) and a fairness assessment and mitigation (Fairlearn) of a registered model."""

    type: Literal["responsible_ai"] = "responsible_ai"
    model: PathText = Field(
        description="The registered model: kiln:NAME:VERSION, kiln:NAME@N (version N), @latest, @ALIAS."
    )
    train_data: PathText | JobInput = Field(
        description="A uri_file (CSV/Parquet) or mltable data asset, or a local file: what the model was trained on."
    )
    test_data: PathText | JobInput = Field(description="The rows the model is assessed on (same columns).")
    target_column: str = Field(min_length=1, max_length=200)
    task_type: Literal["classification", "regression"]
    explanation: Explanation | None = Field(default_factory=Explanation)
    fairness: Fairness | None = None
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds sampling, explainers and mitigation.")

    @model_validator(mode="after")
    def _derive_inputs_and_outputs(self) -> ResponsibleAiJobSpec:
        """The job's inputs and outputs, from its own fields (kept as they are when already there: the CLI
        replaces a local file's path by its upload)."""
        self.inputs.setdefault(MODEL_INPUT, JobInput(type="mlflow_model", path=_model_reference(self.model)))
        for name, value in ((TRAIN_INPUT, self.train_data), (TEST_INPUT, self.test_data)):
            if name not in self.inputs:
                self.inputs[name] = value if isinstance(value, JobInput) else JobInput(type="uri_file", path=value)
        self.outputs.setdefault(REPORT_OUTPUT, JobOutput(type="uri_folder", description="the responsible AI report"))
        mitigation = self.fairness.mitigation if self.fairness else None
        if mitigation is not None and mitigation.register_as and MITIGATED_OUTPUT not in self.outputs:
            self.outputs[MITIGATED_OUTPUT] = JobOutput(
                type="mlflow_model", name=mitigation.register_as,
                description=f"{self.model} mitigated by {mitigation.method} for {mitigation.constraint}",
            )  # fmt: skip
            self.tags.setdefault(REGISTER_AS_TAG, mitigation.register_as)
        return self

    def problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for name in DERIVED_INPUTS:
            item = self.inputs.get(name)
            if not isinstance(item, JobInput) or not item.is_path():
                problems.append((("inputs", name), f"'{name}' is the input kiln makes from the field '{name}'"))
        if self.fairness is None:
            return problems
        if self.target_column in self.fairness.sensitive_features:
            problems.append((("fairness", "sensitive_features"), f"'{self.target_column}' is the target_column"))
        known = CLASSIFICATION_METRICS if self.task_type == "classification" else REGRESSION_METRICS
        for index, metric in enumerate(self.fairness.metrics):
            if metric in known:
                continue
            if self.task_type == "regression" and metric in CLASSIFICATION_ONLY:
                message = f"'{metric}' is a classification metric; a regression model's metrics: {', '.join(known)}"
            else:
                message = f"'{metric}' is not a metric kiln knows for {self.task_type} (known: {', '.join(known)})"
            problems.append((("fairness", "metrics", str(index)), message))
        problems += self._mitigation_problems()
        return problems

    def _mitigation_problems(self) -> list[Problem]:
        mitigation = self.fairness.mitigation if self.fairness else None
        if mitigation is None or self.fairness is None:
            return []
        where = ("fairness", "mitigation")
        problems: list[Problem] = []
        if self.task_type != "classification":
            problems.append((where, "mitigation is for classification models (task_type: classification)"))
        allowed = THRESHOLD_CONSTRAINTS if mitigation.method == "threshold_optimizer" else CONSTRAINTS
        if mitigation.constraint not in allowed:
            problems.append(((*where, "constraint"), f"{mitigation.method} takes one of: {', '.join(allowed)}"))
        if mitigation.sensitive_feature and mitigation.sensitive_feature not in self.fairness.sensitive_features:
            problems.append(
                ((*where, "sensitive_feature"), f"'{mitigation.sensitive_feature}' is not one of sensitive_features")
            )
        return problems

    @property
    def mitigation_feature(self) -> str | None:
        if self.fairness is None or self.fairness.mitigation is None:
            return None
        return self.fairness.mitigation.sensitive_feature or self.fairness.sensitive_features[0]

    def settings(self) -> dict[str, Any]:
        """What the job's process needs besides its inputs and outputs (``kiln.rai.job`` reads it)."""
        return self.model_dump(
            mode="json",
            by_alias=True,
            include={"target_column", "task_type", "explanation", "fairness", "seed", "model"},
        )

    def shell_settings(self) -> str:
        import json

        return shlex.quote(json.dumps(self.settings(), separators=(",", ":")))


def _model_reference(text: str) -> str:
    """``NAME@N`` with N a number is version N (``NAME:N``): how the issue's job files name versions."""
    match = re.match(r"^((?:kiln|azureml):)?([^:@/]+)@(\d+)$", text)
    if match and len(match.group(2)) <= MAX_NAME_LENGTH:
        return f"{match.group(1) or 'kiln:'}{match.group(2)}:{match.group(3)}"
    return text
