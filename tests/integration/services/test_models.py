"""The model registry on MLflow's, job outputs that register themselves, model inputs, aliases and lineage."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kiln.errors import Conflict, InvalidSpec, NotFound
from kiln.specs.pins import ModelPin
from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer, write_job

EXAMPLE = REPO / "examples" / "transfer-learning"


def _saved_iris_model(folder: Path) -> Path:
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    mlflow.sklearn.save_model(model, str(folder), input_example=X[:2])
    return folder


def test_transfer_learning_example_registers_both_models_with_lineage(
    workspace: WorkspaceServer, mlflow_client
) -> None:  # type: ignore[no-untyped-def]
    base = workspace.cli("job", "create", "-f", str(EXAMPLE / "base.yml"), "--stream", "-o", "json", check=True)
    base_job = json.loads(base.stdout[base.stdout.index("{\n") :])
    with workspace.client() as client:
        base_version = client.models.get_version("digits-base", "latest")
        assert base_version.job == base_job["name"] and base_version.type == "mlflow_model"

        tuned = workspace.cli(
            "job", "create", "-f", str(EXAMPLE / "fine-tune.yml"), "--stream", "-o", "json", check=True
        )
        tuned_job = json.loads(tuned.stdout[tuned.stdout.index("{\n") :])
        metrics = tuned_job["metrics"]
        assert metrics["finetuned_test_accuracy"] > metrics["from_scratch_test_accuracy"]  # the transfer helps

        # the job pinned the exact base version it read, although it asked for @latest
        pinned = client.jobs.get(tuned_job["name"]).view.pinned_inputs["base"]
        assert isinstance(pinned, ModelPin) and (pinned.name, pinned.version) == ("digits-base", base_version.version)
        lineage = client.models.lineage("digits-finetuned", "latest")
    assert lineage.kind == "model" and lineage.id.startswith("digits-finetuned:")
    (producer,) = lineage.upstream
    assert producer.kind == "job" and producer.id == tuned_job["name"]
    upstream_models = [node for node in producer.upstream if node.kind == "model"]
    assert [node.id for node in upstream_models] == [f"digits-base:{base_version.version}"]
    assert upstream_models[0].upstream[0].id == base_job["name"]
    assert {node.kind for node in producer.upstream} >= {"code", "environment", "model"}

    printed = workspace.cli("lineage", "model:digits-finetuned:latest", check=True).stdout
    assert "digits-base" in printed and base_job["name"] in printed and tuned_job["name"] in printed

    # the real mlflow client loads the registered model by alias
    workspace.cli(
        "model", "alias", "set", "digits-finetuned", "champion", "--version", lineage.id.split(":")[1], check=True
    )
    model = mlflow.pyfunc.load_model("models:/digits-finetuned@champion")
    images = np.zeros((2, 64))
    assert model.predict(images).shape == (2,)
    assert mlflow_client.get_model_version_by_alias("digits-finetuned", "champion").run_id == tuned_job["id"]


def test_register_from_a_local_folder_a_run_and_a_job_output(
    workspace: WorkspaceServer, mlflow_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = _saved_iris_model(tmp_path / "iris-model")
    (tmp_path / "model.yml").write_text(
        "name: iris-local\npath: ./iris-model\ndescription: from my laptop\ntags:\n  team: ml\n"
    )
    with workspace.client() as client:
        first = client.models.create(tmp_path / "model.yml")
        assert (first.name, first.version, first.description, first.tags) == (
            "iris-local",
            "1",
            "from my laptop",
            {"team": "ml"},
        )
        assert first.job is None
        again = client.models.create(name="iris-local", path=str(folder), version="2")
        assert again.version == "2"
        with pytest.raises(Conflict, match="already has version 2"):
            client.models.create(name="iris-local", path=str(folder), version="2")
        with pytest.raises(InvalidSpec, match="next version of 'iris-local' is 3"):
            client.models.create(name="iris-local", path=str(folder), version="7")

        # runs:/JOB/model: the model autologged by the iris example's job
        job = client.jobs.create(REPO / "examples" / "sklearn-iris" / "job.yml").wait(timeout=180)
        assert job.status == JobStatus.COMPLETED
        from_run = client.models.create(name="iris-autologged", path=f"runs:/{job.name}/model")
        assert from_run.job == job.name
        # azureml://jobs/JOB/outputs/OUTPUT: a job's (custom) output folder
        from_output = client.models.create(
            name="iris-report", type="custom_model", path=f"azureml://jobs/{job.name}/outputs/report"
        )
        assert from_output.job == job.name and from_output.type == "custom_model"
        downloaded = client.models.download("iris-report", "1", tmp_path / "dl")
        assert json.loads((downloaded / "metrics.json").read_text())["test_accuracy"] > 0.8

        loaded = mlflow.pyfunc.load_model("models:/iris-local/1")
        assert loaded.predict(load_iris(return_X_y=True)[0][:3]).tolist() == [0, 0, 0]


@pytest.mark.smoke
def test_bad_model_sources_are_refused_clearly(workspace: WorkspaceServer, tmp_path: Path) -> None:
    (tmp_path / "not-mlflow").mkdir()
    (tmp_path / "not-mlflow" / "weights.bin").write_bytes(b"\0" * 10)
    with workspace.client() as client:
        with pytest.raises(InvalidSpec, match="needs an MLmodel file"):
            client.models.create(name="bad-model", path=str(tmp_path / "not-mlflow"))
        with pytest.raises(NotFound):
            client.models.get("bad-model")  # nothing half-registered
        custom = client.models.create(name="bad-model", type="custom_model", path=str(tmp_path / "not-mlflow"))
        assert custom.version == "1"
        with pytest.raises(InvalidSpec, match="path 'nowhere' not found"):
            client.models.create(name="x", path="nowhere")
        with pytest.raises(InvalidSpec, match="unknown field 'pth'"):
            client.models.create({"name": "x", "pth": "y"})
    result = workspace.cli("model", "show", "-n", "no-such-model")
    assert result.returncode != 0 and result.stderr.startswith("error: model 'no-such-model' not found")


def test_aliases_archive_and_model_inputs(workspace: WorkspaceServer, tmp_path: Path) -> None:
    folder = _saved_iris_model(tmp_path / "m")
    with workspace.client() as client:
        for _ in range(2):
            client.models.create(name="iris-aliased", path=str(folder))
        client.models.set_alias("iris-aliased", "champion", "1")
        assert client.models.get_version("iris-aliased", "champion").version == "1"
        assert client.models.get_version("iris-aliased", "latest").version == "2"
        client.models.archive("iris-aliased", "2")
        assert client.models.get_version("iris-aliased", "latest").version == "1"  # archived versions leave @latest
        assert client.models.get_version("iris-aliased", "2").archived
        client.models.restore("iris-aliased", "2")
        with pytest.raises(NotFound, match="no alias 'challenger'"):
            client.models.get_version("iris-aliased", "challenger")

        reader = "import sys, pathlib\nprint(sorted(p.name for p in pathlib.Path(sys.argv[1]).iterdir()))\n"
        job_file = write_job(
            tmp_path / "job",
            "command: python read.py ${{inputs.m}}\ncode: ./src\ninputs:\n  m: {type: mlflow_model, path: kiln:iris-aliased@champion}\n",
            {"read.py": reader},
        )
        job = client.jobs.create(job_file).wait(timeout=60)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "MLmodel" in "".join(client.jobs.logs(job.name))
        assert isinstance(job.view.pinned_inputs["m"], ModelPin)
        assert job.view.pinned_inputs["m"].record() == {  # the alias's target at submit, pinned
            "kind": "model",
            "name": "iris-aliased",
            "version": "1",
            "requested": "kiln:iris-aliased@champion",
        }
        bad = write_job(
            tmp_path / "bad",
            "command: echo ${{inputs.m}}\ninputs:\n  m: {type: mlflow_model, path: kiln:iris-aliased@nope}\n",
        )
        with pytest.raises(InvalidSpec, match="inputs.m.path: model 'iris-aliased' has no alias 'nope'"):
            client.jobs.create(bad)


def test_what_mlflow_refuses_is_the_callers_error_naming_what_was_asked(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.txt").write_text("1\n")
    huge = "99999999999999999999999"
    with workspace.client() as client:
        client.models.create(name="mlflow-refusals", type="custom_model", path=str(tmp_path / "m"))
        for version in (None, "1"):
            with pytest.raises(InvalidSpec, match="tags"):  # at the door (kiln.specs.bounded) or MLflow's refusal
                client.models.update("mlflow-refusals", version=version, tags={"'é": "x"})
            with pytest.raises(InvalidSpec, match="tags"):
                client.models.update("mlflow-refusals", version=version, tags={"k" * 300: "x"})
        with pytest.raises(NotFound, match=f"model 'mlflow-refusals' has no version '{huge}' \\(versions: 1\\)"):
            client.models.update("mlflow-refusals", version=huge, description="d")
        with pytest.raises(NotFound, match=f"has no version '{huge}'"):
            client.models.archive("mlflow-refusals", huge)
        with pytest.raises(NotFound, match=f"has no version '{huge}'"):
            client.models.set_alias("mlflow-refusals", "champion", huge)
        with pytest.raises(InvalidSpec, match="alias 'v1' of model 'mlflow-refusals': MLflow refuses"):
            client.models.set_alias("mlflow-refusals", "v1", "1")  # MLflow keeps v<N> for versions
        with pytest.raises(InvalidSpec, match="alias 'a{300}' of model 'mlflow-refusals': MLflow refuses"):
            client.models.set_alias("mlflow-refusals", "a" * 300, "1")
        with pytest.raises(NotFound, match="no alias 'v-1'"):
            client.models.get_version("mlflow-refusals", "v-1")
        assert client.models.get("mlflow-refusals").versions[0].tags == {}  # nothing was set
