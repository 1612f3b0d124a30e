"""The pipeline spec's own checks and the component references and literal types, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.errors import InvalidSpec
from kiln.pipelines.component import literal_problem, parse_component_reference, render_optional_blocks
from kiln.pipelines.spec import PipelineJobSpec


@pytest.mark.parametrize(
    ("text", "name", "version"),
    [("kiln:train:1", "train", "1"), ("azureml:train:2", "train", "2"), ("azureml:train@latest", "train", "latest"),
     ("kiln:train@latest", "train", "latest"), ("kiln:train", "train", "latest")],
)  # fmt: skip
def test_component_references(text: str, name: str, version: str) -> None:
    reference = parse_component_reference(text, "jobs.x.component")
    assert (reference.name, reference.version) == (name, version)


def test_a_bad_component_reference_names_its_field() -> None:
    with pytest.raises(InvalidSpec, match="jobs.x.component: 'train:1' is not a component reference"):
        parse_component_reference("train:1", "jobs.x.component")


def test_literal_types() -> None:
    assert literal_problem("integer", 3) is None and literal_problem("integer", "4") is None
    assert "whole number" in (literal_problem("integer", "abc") or "") and literal_problem("integer", True)
    assert literal_problem("number", "0.5") is None and literal_problem("number", "x")
    assert literal_problem("boolean", "true") is None and literal_problem("boolean", 1)


def test_optional_blocks_are_kept_only_when_their_inputs_are_given() -> None:
    command = "python t.py $[[--lr ${{inputs.lr}}]] $[[--seed ${{inputs.seed}}]]"
    assert render_optional_blocks(command, {"lr"}) == "python t.py --lr ${{inputs.lr}} "


def _pipeline(**jobs: object) -> PipelineJobSpec:
    return PipelineJobSpec.model_validate({"type": "pipeline", "inputs": {"n": 1}, "jobs": jobs})


def test_order_follows_the_bindings_and_a_cycle_is_named() -> None:
    spec = _pipeline(
        c={"command": "echo ${{inputs.x}}", "inputs": {"x": "${{parent.jobs.b.outputs.o}}"}},
        b={"command": "echo ${{inputs.x}}", "inputs": {"x": "${{parent.jobs.a.outputs.o}}"}, "outputs": {"o": {}}},
        a={"command": "echo", "outputs": {"o": {}}},
    )
    assert spec.order() == ["a", "b", "c"] and spec.problems() == []
    looped = _pipeline(
        a={"command": "echo ${{inputs.x}}", "inputs": {"x": "${{parent.jobs.b.outputs.o}}"}, "outputs": {"o": {}}},
        b={"command": "echo ${{inputs.x}}", "inputs": {"x": "${{parent.jobs.a.outputs.o}}"}, "outputs": {"o": {}}},
    )
    assert looped.problems() == [
        (("jobs",), "the steps' bindings make a cycle: a → b → a; a step cannot wait on itself")
    ]


def test_bindings_to_nothing_name_their_yaml_path() -> None:
    spec = _pipeline(
        a={"command": "echo ${{inputs.x}} ${{inputs.y}}",
           "inputs": {"x": "${{parent.inputs.m}}", "y": "${{parent.jobs.a.outputs.o}}"}, "outputs": {"o": "${{parent.outputs.z}}"}},
        b={"component": "kiln:t:1", "command": "echo"},
    )  # fmt: skip
    found = {".".join(loc): message for loc, message in spec.problems()}
    assert found["jobs.a.inputs.x"] == "'m' is no pipeline input (there are: n)"
    assert found["jobs.a.inputs.y"] == "step 'a' cannot read its own output"
    assert found["jobs.a.outputs.o"] == "'z' is no pipeline output (there are: none)"
    assert found["jobs.b.command"] == "a component step takes its command from its component"
    assert found["jobs.b"].startswith("a step has either a 'component' or a 'command'")


def test_a_sweep_steps_trial_file_is_read_beside_the_pipeline_and_a_command_step_takes_no_sweep_field(
    tmp_path: Path,
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "train.yml").write_text(
        "type: command\nname: t\ncode: ./src\ncommand: python t.py ${{inputs.lr}}\n"
        "inputs: {lr: {type: number}}\noutputs: {model: {type: uri_folder}}\n"
    )
    sweep = {"type": "sweep", "trial": "./train.yml", "inputs": {"lr": "${{search_space.lr}}"},
             "search_space": {"lr": {"type": "choice", "values": [0.1]}},
             "objective": {"goal": "minimize", "primary_metric": "loss"}}  # fmt: skip
    spec = PipelineJobSpec.model_validate({"jobs": {"tune": sweep}})
    read = spec.with_local_files(tmp_path)
    assert isinstance(read, PipelineJobSpec) and read.problems() == []
    assert read.jobs["tune"].declared_outputs() == {"model"}
    assert read.local_paths() == {("jobs", "tune", "trial", "code"): str((tmp_path / "src").resolve())}
    command = PipelineJobSpec.model_validate({"jobs": {"s": {"command": "echo", "objective": sweep["objective"]}}})
    assert command.problems() == [(("jobs", "s", "objective"), "'objective' is a sweep step's field (type: sweep)")]
