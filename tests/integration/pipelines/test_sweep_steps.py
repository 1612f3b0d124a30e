"""A sweep step in a pipeline (``type: sweep``): the pipeline starts it as a child job like any step; once it
completes, its outputs are its best trial's, and the next step reads them through
``${{parent.jobs.tune.outputs.model}}``. A sweep step is never reused; a bad sweep step is refused at submit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiln.errors import InvalidSpec, NotFound
from tests.conftest import WorkspaceServer
from tests.integration.pipelines.helpers import step_jobs, write_yaml

# loss (x - 3)**2, and the trial's x written to its output model/x.txt
TRIAL = (
    "python -c \"import sys, pathlib, mlflow; x = float(sys.argv[1]); mlflow.log_metric('loss', (x - 3) ** 2); "
    "pathlib.Path(sys.argv[2], 'x.txt').write_text(sys.argv[1])\" ${{search_space.x}} ${{outputs.model}}"
)
READ = "python -c \"import sys, shutil; shutil.copy(sys.argv[1] + '/x.txt', sys.argv[2])\" ${{inputs.model}} ${{outputs.report}}"


def _pipeline(**tune: Any) -> dict[str, Any]:
    return {
        "type": "pipeline", "experiment_name": "pipeline-sweep-tests", "settings": {"default_compute": "local"},
        "jobs": {
            "tune": {
                "type": "sweep", "trial": {"command": TRIAL}, "sampling_algorithm": "grid",
                "search_space": {"x": {"type": "choice", "values": [1, 3, 5]}},
                "objective": {"goal": "minimize", "primary_metric": "loss"},
                "limits": {"max_concurrent_trials": 3}, "outputs": {"model": {"type": "uri_folder"}}, **tune,
            },
            "use": {"command": READ, "inputs": {"model": "${{parent.jobs.tune.outputs.model}}"},
                    "outputs": {"report": {"type": "uri_folder"}}},
        },
    }  # fmt: skip


def test_a_sweep_step_passes_its_best_trials_output_to_the_next_step(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    with workspace.client() as client:
        pipeline = client.jobs.create(write_yaml(tmp_path / "p.yml", _pipeline())).wait(timeout=180)
        assert pipeline.status.value == "completed", pipeline.view.failure_reason
        steps = step_jobs(client, pipeline.name)
        assert steps["tune"].view.type == "sweep" and steps["tune"].view.tags["mlflow.parentRunId"] == pipeline.id
        trials, _ = client.jobs.search(tags={"kiln.parent": steps["tune"].name}, limit=10)
        assert len(trials) == 3 and all(trial.status.value == "completed" for trial in trials)
        assert client.jobs.read_output_file(steps["use"].name, "report", "x.txt") == b"3"  # the best trial's x
        shown = workspace.cli("job", "show", "-n", pipeline.name, check=True, env={"COLUMNS": "300"}).stdout
        assert f"steps of {pipeline.name}" in shown and steps["tune"].name in shown
        again = client.jobs.create(write_yaml(tmp_path / "p.yml", _pipeline())).wait(timeout=180)
        assert again.status.value == "completed", again.view.failure_reason
        assert "kiln.pipeline.reused_from" not in step_jobs(client, again.name)["tune"].view.tags  # never reused


def test_a_bad_sweep_step_is_refused_at_submit_naming_its_path(workspace: WorkspaceServer, tmp_path: Path) -> None:
    with workspace.client() as client:
        with pytest.raises(InvalidSpec, match=r"jobs\.tune\.search_space\.x\.type: 'gaussian' is not"):
            client.jobs.create(write_yaml(tmp_path / "a.yml", _pipeline(search_space={"x": {"type": "gaussian"}})))
        with pytest.raises(InvalidSpec, match=r"jobs\.tune\.objective: a sweep step needs 'objective'"):
            client.jobs.create(write_yaml(tmp_path / "b.yml", _pipeline(objective=None)))
        with pytest.raises(InvalidSpec, match=r"jobs\.use\.inputs\.model: 'best' is no output of step 'tune'"):
            spec = _pipeline()
            spec["jobs"]["use"]["inputs"]["model"] = "${{parent.jobs.tune.outputs.best}}"
            client.jobs.create(write_yaml(tmp_path / "c.yml", spec))
        with pytest.raises(NotFound, match=r"jobs\.tune\.trial: component 'sw_absent:1' not found"):
            client.jobs.create(write_yaml(tmp_path / "d.yml", _pipeline(trial="azureml:sw_absent:1")))
