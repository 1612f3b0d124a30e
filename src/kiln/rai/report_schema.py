"""``report.json``: the one stable, documented shape of a responsible AI report (docs/responsible-ml.md).

The job writes it (validated against these classes first), the REST route answers it, ``kiln rai show``
prints it and kiln studio draws it. ``schema_version`` changes only when a field changes meaning or goes
away; new fields may be added within a version (readers ignore what they do not know)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
REPORT_FILE = "report.json"
HTML_FILE = "report.html"


class ReportPart(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)  # a newer writer's fields are kept, not refused


class Importance(ReportPart):
    feature: str
    importance: float  # mean |contribution| (SHAP, LIME), mu* (Morris) or the partial dependence's range


class Contribution(ReportPart):
    feature: str
    value: float | str | None  # the row's value of the feature
    contribution: float  # how much it moved this row's prediction (positive: towards the positive class)


class LocalExplanation(ReportPart):
    row: int  # 0-based row of the test data
    prediction: float | str | None
    actual: float | str | None
    base_value: float | None = None  # the explainer's expected value (SHAP's intercept)
    contributions: list[Contribution]  # largest |contribution| first


class Explanations(ReportPart):
    method: str  # shap | lime | morris | partial_dependence
    method_reason: str  # why this method: asked for, or what `auto` found installed
    explained_output: str  # what the explainers explain: "probability of default = 1", "prediction"
    importances: list[Importance]  # largest first
    local: list[LocalExplanation] = Field(default_factory=list)
    local_method: str | None = (
        None  # the method of the local explanations (global-only methods leave this to SHAP/LIME)
    )


class Group(ReportPart):
    values: dict[str, str]  # sensitive feature → its value in this group ({"sex": "F", "age_group": "18-30"})
    label: str  # "F", "F × 18-30"
    count: int
    metrics: dict[str, float | None]


class Grouping(ReportPart):
    features: list[str]  # one sensitive feature, or several (an intersection)
    groups: list[Group]
    difference: dict[str, float | None]  # per metric: largest minus smallest value among the groups
    ratio: dict[str, float | None]  # per metric: smallest over largest
    demographic_parity_difference: float | None = None  # classification
    demographic_parity_ratio: float | None = None
    equalized_odds_difference: float | None = None
    equalized_odds_ratio: float | None = None


class FairnessAssessment(ReportPart):
    metrics: list[str]
    positive_label: str | None = None  # what a "selection" is (classification)
    overall: dict[str, float | None]
    groupings: list[Grouping]  # each sensitive feature alone, then their intersection


class Comparison(ReportPart):
    metric: str
    before: float | None
    after: float | None
    change: float | None  # after - before


class MitigationResult(ReportPart):
    method: str
    constraint: str
    sensitive_feature: str
    needs_sensitive_feature: bool  # the mitigated model's input includes the sensitive column (threshold_optimizer)
    disparity_metric: str  # the disparity the constraint is about, e.g. demographic_parity_difference
    disparity_before: float
    disparity_after: float
    disparity_reduction: float  # 1 - after / before (0.5: halved)
    accuracy_before: float
    accuracy_after: float
    accuracy_paid: float  # before - after
    comparison: list[Comparison]
    groups_after: Grouping  # per-group metrics of the mitigated model on the test data
    registered_as: str | None = None  # the model the mitigated version is registered under


class ModelSummary(ReportPart):
    reference: str  # as the job file named it
    flavors: list[str]
    features: list[str]  # the columns the model reads


class DataSummary(ReportPart):
    train_rows: int
    test_rows: int
    target_column: str
    task_type: str


class Plot(ReportPart):
    name: str  # importances | local | groups | before_after
    file: str  # a PNG next to report.json
    title: str


class RaiReport(ReportPart):
    schema_version: int = SCHEMA_VERSION
    kind: str = "kiln.responsible_ai.report"
    created_at: str  # ISO 8601, UTC
    model: ModelSummary
    data: DataSummary
    performance: dict[str, float | None]  # on the test data: accuracy (or r2, mean_absolute_error…)
    explanations: Explanations | None = None
    fairness: FairnessAssessment | None = None
    mitigation: MitigationResult | None = None
    plots: list[Plot] = Field(default_factory=list)
    seconds: dict[str, float] = Field(default_factory=dict)  # time per step (explain, assess, mitigate, total)
    notes: list[str] = Field(default_factory=list)  # what a reader should know (skipped parts, fallbacks)
