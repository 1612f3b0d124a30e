"""The responsible_ai job file: its inputs and outputs derived, what the file alone shows wrong refused with its
field, the job's command line quoting whatever the file holds."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from kiln.capabilities import load_capabilities
from kiln.errors import InvalidSpec, MissingExtra
from kiln.rai import CAPABILITY
from kiln.rai.handler import ResponsibleAiHandler
from kiln.rai.spec import ResponsibleAiJobSpec
from kiln.specs.job_kinds import parse_job_spec
from kiln.specs.yaml_source import read_yaml_file
from tests.conftest import REPO

BASE: dict[str, Any] = {
    "type": "responsible_ai", "model": "kiln:credit@1", "train_data": "kiln:credit-train@latest",
    "test_data": "kiln:credit-test@latest", "target_column": "default", "task_type": "classification",
}  # fmt: skip


def test_the_examples_file_parses_into_inputs_and_outputs() -> None:
    load_capabilities()
    spec = parse_job_spec(read_yaml_file(REPO / "examples" / "responsible-ml" / "rai.yml"))
    assert isinstance(spec, ResponsibleAiJobSpec) and spec.problems() == []
    assert spec.inputs["model"].path == "kiln:credit:1"  # NAME@N is version N
    assert spec.inputs["train_data"].type == "uri_file" and spec.inputs["test_data"].path == "kiln:credit-test@latest"
    mitigated = spec.outputs["mitigated_model"]
    assert mitigated.type == "mlflow_model" and mitigated.name == "credit"
    assert spec.outputs["report"].type == "uri_folder" and spec.tags["rai.register_as"] == "credit"
    again = parse_job_spec(spec.model_dump(mode="json", by_alias=True, exclude_none=True))  # as stored, read back
    assert again == spec


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task_type": "regression", "fairness": {"sensitive_features": ["sex"], "metrics": ["selection_rate"]}},
         "fairness.metrics.0: 'selection_rate' is a classification metric"),
        ({"fairness": {"sensitive_features": ["default"]}}, "fairness.sensitive_features: 'default' is the target_column"),
        ({"fairness": {"sensitive_features": ["sex"], "metrics": ["wellness"]}}, "'wellness' is not a metric kiln knows"),
        ({"task_type": "regression", "fairness": {"sensitive_features": ["sex"], "metrics": ["r2"],
          "mitigation": {"method": "grid_search"}}}, "fairness.mitigation: mitigation is for classification models"),
        ({"fairness": {"sensitive_features": ["sex"], "mitigation": {"method": "threshold_optimizer",
          "constraint": "error_rate_parity"}}}, "fairness.mitigation.constraint: threshold_optimizer takes one of"),
        ({"fairness": {"sensitive_features": ["sex"], "mitigation": {"method": "grid_search",
          "sensitive_feature": "age"}}}, "fairness.mitigation.sensitive_feature: 'age' is not one of"),
    ],
)  # fmt: skip
def test_what_the_file_alone_shows_wrong_is_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    spec = ResponsibleAiJobSpec.model_validate(BASE | changes)
    assert any(message in f"{'.'.join(loc)}: {text}" for loc, text in spec.problems()), spec.problems()


def test_fields_that_do_not_parse_name_themselves() -> None:
    load_capabilities()
    with pytest.raises(InvalidSpec, match="task_type"):
        parse_job_spec(BASE | {"task_type": "clustering"})
    with pytest.raises(InvalidSpec, match="local_rows"):
        parse_job_spec(BASE | {"explanation": {"local_rows": [-1]}})
    with pytest.raises(InvalidSpec, match="explanation.method"):
        parse_job_spec(BASE | {"explanation": {"method": "guess"}})


def test_the_command_line_carries_any_column_name_as_one_word() -> None:
    hostile = "x'; touch /tmp/pwned; echo '$(id)`id`"
    spec = ResponsibleAiJobSpec.model_validate(BASE | {"target_column": hostile})
    values = {"inputs": {"model": "/j/in/model", "train_data": "/j/in/a b.csv", "test_data": "/j/in/t.csv"},
              "outputs": {"report": "/j/out/report"}}  # fmt: skip
    words = shlex.split(ResponsibleAiHandler().command_line(spec, values))
    assert words[:3] == ["python", "-m", "kiln.rai.job"]
    assert json.loads(words[words.index("--settings") + 1])["target_column"] == hostile
    assert words[words.index("--train") + 1] == "/j/in/a b.csv" and "--mitigated" not in words


def test_a_missing_extra_names_it() -> None:
    import dataclasses

    absent = dataclasses.replace(CAPABILITY, modules=("interpret_not_installed_here",))
    with pytest.raises(MissingExtra, match=r'pip install "kiln\[rai\]"'):
        absent.check_installed(needed_by="a job of type 'responsible_ai'")
