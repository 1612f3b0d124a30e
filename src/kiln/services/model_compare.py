"""``models.compare``: a candidate version against a baseline, on the metrics of each version's source run
(the job that produced it), or on metrics computed from both versions' answers on a data asset's rows
(``request.data``: ``kiln.services.model_scoring``). Every problem with the request (a version or alias that does not exist, a version
with no run, a metric missing from either run) is refused before any row is computed (before anything is scored), naming what to fix."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from kiln.errors import InvalidSpec
from kiln.specs.model_compare import CompareRequest, MetricComparison, ModelComparison
from kiln.specs.references import AssetReference

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from kiln.services.model_scoring import ModelScoring
    from kiln.services.models import ModelService
    from kiln.specs.roles import Role
    from kiln.tracking.runs import RunTracker


def version_reference(name: str, version: str) -> AssetReference:
    """``5`` → version 5; ``latest``; ``@champion`` or ``champion`` → the alias."""
    text = version.removeprefix("@")
    if text.isascii() and text.isdigit() and not version.startswith("@"):
        return AssetReference(name, text)
    return AssetReference(name, label=text)


def compare_versions(
    models: ModelService, tracker: RunTracker, name: str, request: CompareRequest,
    scoring: ModelScoring | None = None, role: Role | None = None,
) -> ModelComparison:  # fmt: skip
    candidate = models.resolve(version_reference(name, request.candidate))
    baseline = models.resolve(version_reference(name, request.baseline))
    if request.scored:
        return _scored(models, name, request, candidate, baseline, scoring, role)
    candidate_metrics = _run_metrics(tracker, candidate, "candidate")
    baseline_metrics = _run_metrics(tracker, baseline, "baseline")
    for gate in request.metrics:
        for role, version, metrics in (
            ("candidate", candidate, candidate_metrics),
            ("baseline", baseline, baseline_metrics),
        ):
            if gate.name not in metrics:
                known = ", ".join(sorted(metrics)[:20]) or "none"
                raise InvalidSpec(
                    f"metrics: the {role} (model '{name}' version {version.version}) has no metric '{gate.name}' "
                    f"in its run (its metrics: {known}); name a metric both runs logged"
                )
            if not math.isfinite(metrics[gate.name]):
                raise InvalidSpec(
                    f"metrics: the {role} (model '{name}' version {version.version}) logged '{gate.name}' as "
                    f"{metrics[gate.name]}, which no gate can compare"
                )
    return ModelComparison(
        name=name, candidate=str(candidate.version), baseline=str(baseline.version),
        candidate_job=models.version_view(candidate).job, baseline_job=models.version_view(baseline).job,
        rows=(rows := _rows(request, candidate_metrics, baseline_metrics)), passed=all(row.passed for row in rows),
    )  # fmt: skip


def _scored(
    models: ModelService, name: str, request: CompareRequest, candidate: ModelVersion, baseline: ModelVersion,
    scoring: ModelScoring | None, role: Role | None,
) -> ModelComparison:  # fmt: skip
    if scoring is None:
        raise InvalidSpec("data: this workspace cannot score models (no scoring service); compare the runs' metrics")
    for version in (candidate, baseline):
        kind = models.version_view(version).type
        if kind != "mlflow_model":
            raise InvalidSpec(
                f"model '{name}' version {version.version} is a {kind}; a scored comparison loads mlflow_model "
                "versions with MLflow's pyfunc"
            )
    data = scoring.check(request, role)
    count, metrics = scoring.score(
        data, {"candidate": (name, str(candidate.version)), "baseline": (name, str(baseline.version))}, request
    )
    rows = _rows(request, metrics["candidate"], metrics["baseline"])
    return ModelComparison(
        name=name, candidate=str(candidate.version), baseline=str(baseline.version), rows=rows,
        passed=all(row.passed for row in rows), data=f"{data.name}:{data.version}", rows_scored=count,
    )  # fmt: skip


def _rows(
    request: CompareRequest, candidate_metrics: dict[str, float], baseline_metrics: dict[str, float]
) -> list[MetricComparison]:
    rows = []
    for gate in request.metrics:
        goal = gate.resolved_goal
        value, against = candidate_metrics[gate.name], baseline_metrics[gate.name]
        delta = value - against
        improvement = delta if goal == "max" else -delta
        rows.append(
            MetricComparison(
                metric=gate.name,
                goal=goal,
                candidate=value,
                baseline=against,
                delta=delta,
                min_delta=gate.min_delta,
                passed=improvement >= gate.min_delta,
            )  # fmt: skip
        )
    return rows


def _run_metrics(tracker: RunTracker, version: ModelVersion, role: str) -> dict[str, float]:
    if not version.run_id:
        raise InvalidSpec(
            f"{role}: model '{version.name}' version {version.version} has no source run, so it has no metrics; "
            "register versions from the job that trained them (runs:/JOB/PATH or the job's model output)"
        )
    return tracker.params_and_metrics(version.run_id)[1]
