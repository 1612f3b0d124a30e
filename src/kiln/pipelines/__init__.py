"""Pipelines: Azure ML's ``type: pipeline`` job files and command components, unchanged.

- ``component``: the command component YAML, a step's reference to one, typed literal checks;
- ``spec``: the pipeline job file (steps, bindings, settings) and what it finds wrong in itself (cycles, unknown
  steps, inputs and outputs, each naming its YAML path);
- ``steps``: a step as the command job it runs, its inputs bound and type-checked;
- ``job_outputs``: a job's kept output as another job's input (``azureml://jobs/JOB/outputs/NAME``);
- ``handler``: the engine's side (a summary: a pipeline runs no process);
- ``service``: components (versioned, code pinned by hash) and the server's pipeline loop: steps are child jobs
  (tag ``kiln.parent``) and nested MLflow runs (``mlflow.parentRunId``); an unchanged deterministic step is
  recorded reused (``kiln.pipeline.reused_from``) instead of run;
- ``api`` + ``router``: REST ``components.create|list|show``; ``sdk``: ``Client().components``; ``cli``:
  ``kiln component create|list|show``; the steps' live table is ``kiln.cli.child_jobs``;
- ``transfer``: component versions carried by a workspace's export and import;
- ``studio``: kiln studio's pipelines list and a pipeline's step graph (live, reused steps marked) in its job page.
"""

from __future__ import annotations

from kiln.capabilities import Capability, CliCommand
from kiln.specs.job_kinds import JobKind

CAPABILITY = Capability(
    name="pipelines",
    summary="pipelines (type: pipeline): steps as child jobs in dependency order, command components, step reuse",
    commands=(CliCommand("component", "kiln.pipelines.cli:app", "Command components: create, list, show."),),
    api="kiln.pipelines.api",
    router="kiln.pipelines.router:pipelines_router",
    service="kiln.pipelines.service:PipelineService",
    job_kinds=(
        JobKind(
            "pipeline",
            spec="kiln.pipelines.spec:PipelineJobSpec",
            handler="kiln.pipelines.handler:PipelineHandler",
            description="a pipeline: steps (command jobs or components) run in the order their bindings make",
            runs_in_server=True,
        ),
    ),
    studio_pages="kiln.pipelines.studio:PAGES",
    transfer="kiln.pipelines.transfer:transfer_parts",
)

__all__ = ["CAPABILITY"]
