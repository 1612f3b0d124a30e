"""kiln.dsl: a @pipeline function gives the same pipeline spec as the YAML file it mirrors (the example's), steps
named after their variables, a component's inputs checked as it is called."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kiln.dsl import Input, command, load_component, pipeline
from kiln.errors import InvalidSpec
from kiln.pipelines.spec import PipelineJobSpec

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "pipelines"
PREP = "python prep.py --test-size ${{inputs.test_size}} --out ${{outputs.data}}"


def test_the_example_written_in_python_is_the_example_s_yaml() -> None:
    train_component = load_component(EXAMPLE / "components" / "train.yml")
    score_component = load_component("azureml:iris_score@latest")

    @pipeline(display_name="iris-three-steps", experiment_name="pipelines-example", default_compute="local",
              continue_on_step_failure=False)  # fmt: skip
    def iris(test_size: float = 0.3, max_iter: int = 200) -> dict[str, object]:
        """prep (inline step) → train (a component from a file) → score (a registered component)"""
        prep = command(command=PREP, code="./src", inputs={"test_size": test_size},
                       outputs={"data": {"type": "uri_folder"}})  # fmt: skip
        train = train_component(data=prep.outputs.data, max_iter=max_iter)
        score = score_component(data=prep.outputs.data, model=train.outputs.model)
        return {"report": score.outputs.report}

    written = yaml.safe_load((EXAMPLE / "pipeline.yml").read_text())
    written["jobs"]["train"]["component"] = f"file:{(EXAMPLE / 'components' / 'train.yml').resolve()}"
    built = iris().to_spec()
    assert list(built["jobs"]) == ["prep", "train", "score"]
    assert PipelineJobSpec.model_validate(built) == PipelineJobSpec.model_validate(written)
    assert iris(test_size=0.5).to_spec()["inputs"] == {"test_size": 0.5, "max_iter": 200}
    local = PipelineJobSpec.model_validate(built).with_local_files(EXAMPLE)  # the file read as the CLI reads it
    assert local.jobs["train"].component.name == "iris_train"  # type: ignore[union-attr]


def test_unassigned_steps_are_named_after_their_component_and_inputs_are_checked() -> None:
    train = load_component(EXAMPLE / "components" / "train.yml")

    @pipeline
    def twice(data: Input = Input(path="azureml:iris@latest")) -> None:  # noqa: B008  (Azure's own idiom)
        train(data=data)
        train(data=data, max_iter=5)

    spec = twice().to_spec()
    assert list(spec["jobs"]) == ["iris_train", "iris_train_2"]
    assert spec["inputs"] == {"data": {"type": "uri_folder", "path": "azureml:iris@latest"}}
    assert spec["jobs"]["iris_train"]["inputs"] == {"data": "${{parent.inputs.data}}"}
    assert PipelineJobSpec.model_validate(spec).problems() == []

    @pipeline
    def typo() -> None:
        train(dataa=1)

    with pytest.raises(TypeError, match="has no input 'dataa'"):
        typo()
    with pytest.raises(InvalidSpec, match="inside a @pipeline function"):
        train(data=1)
