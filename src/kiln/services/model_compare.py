"""``models.compare``: a candidate version against a baseline, on the metrics of each version's source run
(the job that produced it). Every problem with the request (a version or alias that does not exist, a version
with no run, a metric missing from either run) is refused before any row is computed, naming what to fix."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from kiln.errors import InvalidSpec
from kiln.specs.model_compare import CompareRequest, MetricComparison, ModelComparison
from kiln.specs.references import AssetReference

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from kiln.services.models import ModelService
    from kiln.tracking.runs import RunTracker


def version_reference(name: str, version: str) -> AssetReference:
    """``5`` → version 5; ``latest``; ``@champion`` or ``champion`` → the alias."""
    text = version.removeprefix("@")
    if text.isascii() and text.isdigit() and not version.startswith("@"):
        return AssetReference(name, text)
    return AssetReference(name, label=text)


def compare_versions(models: ModelService, tracker: RunTracker, name: str, request: CompareRequest) -> ModelComparison:
    candidate = models.resolve(version_reference(name, request.candidate))
    baseline = models.resolve(version_reference(name, request.baseline))
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
    return ModelComparison(
        name=name, candidate=str(candidate.version), baseline=str(baseline.version),
        candidate_job=models.version_view(candidate).job, baseline_job=models.version_view(baseline).job,
        rows=rows, passed=all(row.passed for row in rows),
    )  # fmt: skip


def _run_metrics(tracker: RunTracker, version: ModelVersion, role: str) -> dict[str, float]:
    if not version.run_id:
        raise InvalidSpec(
            f"{role}: model '{version.name}' version {version.version} has no source run, so it has no metrics; "
            "register versions from the job that trained them (runs:/JOB/PATH or the job's model output)"
        )
    return tracker.params_and_metrics(version.run_id)[1]
