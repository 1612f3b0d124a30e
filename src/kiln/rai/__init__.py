"""Responsible ML: explanations (InterpretML) and fairness assessment and mitigation (Fairlearn) for any
registered model, as tracked jobs (``type: responsible_ai``) with reports, and as a Python API.

- the Python API, usable in any job or notebook: :func:`explain`, :func:`assess_fairness`, :func:`mitigate`
  (each imports its libraries when called);
- ``spec``: the job file; ``handler``: its command line; ``job``: the job's process (``tables``,
  ``explanations``, ``fairness``, ``mitigation``, ``mitigated_model``, ``plots``, ``html_report``);
  ``report_schema``: report.json;
- ``service``: the server's side (checks at submit, reports, a model's analyses); ``api`` + ``router``: REST;
  ``cli``: ``kiln rai show|download|list``; ``studio``: the report's page in kiln studio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.capabilities import Capability, CliCommand
from kiln.specs.job_kinds import JobKind

if TYPE_CHECKING:
    from kiln.rai.mitigation import Mitigated

CAPABILITY = Capability(
    name="rai",
    summary="explanations, fairness assessment and mitigation of registered models (InterpretML, Fairlearn)",
    extra="rai",
    modules=("interpret", "fairlearn"),
    commands=(
        CliCommand(
            "rai",
            "kiln.rai.cli:app",
            "Responsible AI reports: show, download, list a model's analyses.",
            checks_extra_itself=True,  # it reads reports over REST: a client machine needs no InterpretML
        ),
    ),
    api="kiln.rai.api",
    router="kiln.rai.router:rai_router",
    service="kiln.rai.service:RaiService",
    job_kinds=(
        JobKind(
            "responsible_ai",
            spec="kiln.rai.spec:ResponsibleAiJobSpec",
            handler="kiln.rai.handler:ResponsibleAiHandler",
            description="explanations and a fairness assessment and mitigation of a registered model",
        ),
    ),
    studio_pages="kiln.rai.studio:PAGES",
)


def explain(model: Any, X: Any, **options: Any) -> dict[str, Any]:
    """Global importances and local explanations of ``model`` on ``X`` (see :func:`kiln.rai.explanations.explain`)."""
    from kiln.rai.explanations import explain as explain_model

    return explain_model(model, X, **options)


def assess_fairness(y_true: Any, y_pred: Any, sensitive_features: Any, **options: Any) -> dict[str, Any]:
    """Metrics per group and disparities (see :func:`kiln.rai.fairness.assess_fairness`)."""
    from kiln.rai.fairness import assess_fairness as assess

    return assess(y_true, y_pred, sensitive_features, **options)


def mitigate(estimator: Any, *args: Any, **options: Any) -> Mitigated:
    """A mitigated model and its before/after comparison (see :func:`kiln.rai.mitigation.mitigate`)."""
    from kiln.rai.mitigation import mitigate as mitigate_model

    return mitigate_model(estimator, *args, **options)


__all__ = ["CAPABILITY", "assess_fairness", "explain", "mitigate"]
