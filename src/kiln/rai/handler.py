"""The job engine's part of ``type: responsible_ai``: the command line of the job's process (``kiln.rai.job``)."""

from __future__ import annotations

import shlex

from kiln.jobs.handler import ReferenceValues
from kiln.rai.spec import MITIGATED_OUTPUT, MODEL_INPUT, REPORT_OUTPUT, TEST_INPUT, TRAIN_INPUT, ResponsibleAiJobSpec


class ResponsibleAiHandler:
    def command_line(self, spec: ResponsibleAiJobSpec, values: ReferenceValues) -> str:
        inputs, outputs = values["inputs"], values["outputs"]
        words = [
            "python", "-m", "kiln.rai.job", "--settings", spec.shell_settings(),
            "--model", shlex.quote(inputs[MODEL_INPUT]), "--train", shlex.quote(inputs[TRAIN_INPUT]),
            "--test", shlex.quote(inputs[TEST_INPUT]), "--report", shlex.quote(outputs[REPORT_OUTPUT]),
        ]  # fmt: skip
        if MITIGATED_OUTPUT in outputs:
            words += ["--mitigated", shlex.quote(outputs[MITIGATED_OUTPUT])]
        return " ".join(words)

    def summary(self, spec: ResponsibleAiJobSpec) -> str:
        parts = ["explain"] if spec.explanation else []
        if spec.fairness:
            parts.append(f"fairness by {', '.join(spec.fairness.sensitive_features)}")
            if spec.fairness.mitigation:
                parts.append(f"mitigate ({spec.fairness.mitigation.method})")
        return f"responsible_ai {spec.model}: {', '.join(parts) or 'performance only'}"
