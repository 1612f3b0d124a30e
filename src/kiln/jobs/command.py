"""The built-in ``type: command`` job: a shell command with ``${{inputs.x}}``/``${{outputs.y}}`` references."""

from __future__ import annotations

from kiln.jobs.handler import ReferenceValues
from kiln.specs.job import CommandJobSpec, render_command


class CommandJobHandler:
    def command_line(self, spec: CommandJobSpec, values: ReferenceValues) -> str:
        return render_command(spec.command, values)

    def summary(self, spec: CommandJobSpec) -> str:
        return spec.command
