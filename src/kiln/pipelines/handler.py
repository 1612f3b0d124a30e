"""The job engine's part of ``type: pipeline``: only its summary. A pipeline runs no process: the workspace
server's pipeline loop (``kiln.pipelines.service``) runs it, and its steps are command jobs the engine runs."""

from __future__ import annotations

from kiln.errors import InvalidSpec
from kiln.jobs.handler import ReferenceValues
from kiln.pipelines.spec import PipelineJobSpec


class PipelineHandler:
    def command_line(self, spec: PipelineJobSpec, values: ReferenceValues) -> str:
        raise InvalidSpec("a pipeline job runs no process of its own: its steps are the jobs that run")

    def summary(self, spec: PipelineJobSpec) -> str:
        try:
            order = spec.order()
        except ValueError:
            order = list(spec.jobs)
        text = f"pipeline of {len(order)} steps: {', '.join(order)}"
        if spec.pipeline_settings().default_datastore:
            text += "; settings.default_datastore is ignored (outputs are kept in the workspace's store)"
        return text
