"""Batch endpoints: score a whole data set with a registered model as a tracked job (Azure ML's batch endpoints).

- ``spec``: endpoints and deployments (Azure's YAML), the views and the invocation's body;
- ``job_kind``: ``type: batch_scoring``, the job of one invocation (spec and handler);
- ``entry``: the job's process (``python -m kiln.batch.entry``): files → mini-batches → ``predictions.csv``;
  ``pool``: local compute's worker processes (retries, timeouts, a dead worker replaced); ``ray_engine``: Ray Data
  on a Ray compute target; ``scorer``: a scoring script's ``init()``/``run(mini_batch)`` or an MLflow model's predict;
- ``service`` (store: ``kiln.store.batch_endpoints``), ``api``, ``router``: REST; ``sdk``: ``Client().batch_endpoints``,
  ``Client().batch_deployments``; ``cli``: ``kiln batch-endpoint``, ``kiln batch-deployment``;
- ``transfer``: endpoints and their deployments carried by a workspace's export and import.
"""

from __future__ import annotations

from kiln.capabilities import Capability, CliCommand
from kiln.specs.job_kind_declarations import JobKind

CAPABILITY = Capability(
    name="batch",
    summary="batch endpoints: score whole data sets with a deployed model as tracked batch_scoring jobs",
    commands=(
        CliCommand("batch-endpoint", "kiln.batch.cli:endpoint_app", "Batch endpoints: score whole data sets as jobs."),
        CliCommand(
            "batch-deployment", "kiln.batch.cli:deployment_app", "Deployments of models behind batch endpoints."
        ),
    ),
    api="kiln.batch.api",
    router="kiln.batch.router:batch_router",
    service="kiln.batch.service:BatchService",
    studio_pages="kiln.batch.studio:PAGES",
    transfer="kiln.batch.transfer:transfer_parts",
    job_kinds=(
        JobKind(
            "batch_scoring",
            spec="kiln.batch.job_kind:BatchScoringJobSpec",
            handler="kiln.batch.job_kind:BatchScoringHandler",
            description="one invocation of a batch deployment: files scored in mini-batches into predictions.csv",
        ),
    ),
)

__all__ = ["CAPABILITY"]
