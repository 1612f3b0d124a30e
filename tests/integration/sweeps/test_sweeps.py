"""Sweep jobs end to end on the shared workspace: tiny trials (``python -c``-sized scripts that log a metric)
over a synthetic objective with a known optimum. Random and bayesian sampling find it within a tolerance; grid
sampling runs every point once; ``max_concurrent_trials`` holds; the trials are child jobs and nested MLflow
runs with the best one recorded on the sweep's run; bandit and median stopping cancel the trials that fall
behind and only those; a primary metric the trials never log fails the sweep with that reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiln.errors import InvalidSpec
from tests.conftest import WorkspaceServer

OPTIMUM = 0.3  # of (x - 0.3)**2 on [0, 1]
TOLERANCE = 0.15
OBJECTIVE = "import sys, mlflow; x = float(sys.argv[1]); mlflow.log_metric('loss', (x - 0.3) ** 2)\n"
# logs 'acc' = its quality 12 times, a step every 0.4 s (time for the sweep to cancel it when it falls behind)
STEADY = "import sys, time, mlflow\nfor step in range(12):\n    mlflow.log_metric('acc', float(sys.argv[1]), step=step)\n    time.sleep(0.4)\n"


def _sweep(folder: Path, script: str, **fields: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "trial.py").write_text(script)
    spec = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json",
        "type": "sweep",
        "trial": {"code": "./src", "command": "python trial.py ${{search_space.x}}"},
        "objective": {"goal": "minimize", "primary_metric": "loss"},
        **fields,
    }
    path = folder / "sweep.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _run(workspace: WorkspaceServer, path: Path, timeout: float = 240) -> tuple[Any, list[Any]]:
    client = workspace.client()
    sweep = client.jobs.create(path).wait(timeout=timeout)
    trials, _ = client.jobs.search(tags={"kiln.parent": sweep.name}, sort="created", limit=100)
    return sweep, trials


def _params(trial: Any) -> dict[str, Any]:
    return json.loads(trial.view.tags["kiln.sweep.params"])


def test_random_sweep_finds_the_optimum_with_nested_runs_and_bounded_concurrency(
    workspace: WorkspaceServer, tmp_path: Path, mlflow_client: Any
) -> None:
    path = _sweep(
        tmp_path, OBJECTIVE, search_space={"x": {"type": "uniform", "min_value": 0.0, "max_value": 1.0}},
        sampling_algorithm={"type": "random", "seed": 7}, limits={"max_total_trials": 12, "max_concurrent_trials": 3},
    )  # fmt: skip
    sweep, trials = _run(workspace, path)
    assert sweep.status.value == "completed", sweep.view.failure_reason
    assert len(trials) == 12 and all(trial.status.value == "completed" for trial in trials)
    # never more than 3 at once: at each trial's start, the trials started before it and not yet ended
    for trial in trials:
        started = trial.view.started_at
        running = [t for t in trials if t.view.started_at <= started < t.view.ended_at]
        assert len(running) <= 3, [t.name for t in running]
    parent = mlflow_client.get_run(sweep.id)
    best_id = parent.data.tags["best_child_run_id"]
    children = mlflow_client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{sweep.id}'"
    )
    assert {run.info.run_id for run in children} == {trial.id for trial in trials}
    best = min(trials, key=lambda trial: mlflow_client.get_run(trial.id).data.metrics["loss"])
    assert best.id == best_id
    assert abs(float(parent.data.params["x"]) - OPTIMUM) < TOLERANCE
    assert parent.data.metrics["loss"] == mlflow_client.get_run(best_id).data.metrics["loss"]


def test_bayesian_sweep_finds_the_optimum(workspace: WorkspaceServer, tmp_path: Path) -> None:
    path = _sweep(
        tmp_path, OBJECTIVE, search_space={"x": {"type": "uniform", "min_value": -2.0, "max_value": 2.0}},
        sampling_algorithm={"type": "bayesian", "seed": 1}, limits={"max_total_trials": 10, "max_concurrent_trials": 2},
    )  # fmt: skip
    sweep, trials = _run(workspace, path)
    assert sweep.status.value == "completed", sweep.view.failure_reason
    assert len(trials) == 10
    recorded = sweep.refresh(run_data=True).view  # the sweep's run: the best trial's params and metric
    losses = {trial.name: trial.metrics["loss"] for trial in trials}
    best = min(trials, key=lambda trial: losses[trial.name])
    assert recorded.params == {"x": str(_params(best)["x"])} and recorded.metrics == {"loss": losses[best.name]}
    assert abs(_params(best)["x"] - OPTIMUM) < TOLERANCE


def test_grid_sweep_runs_every_point_once(workspace: WorkspaceServer, tmp_path: Path) -> None:
    path = _sweep(
        tmp_path,
        "import sys, mlflow\nmlflow.log_metric('loss', float(sys.argv[1]) * len(sys.argv[2]))\n"
        "open('outputs/point.txt', 'w').write(sys.argv[1] + sys.argv[2])\n",
        search_space={"x": {"type": "choice", "values": [1, 2, 3]}, "word": {"type": "choice", "values": ["a", "bb"]}},
        sampling_algorithm="grid", limits={"max_concurrent_trials": 4},
    )  # fmt: skip
    path.write_text(path.read_text().replace("${{search_space.x}}", "${{search_space.x}} ${{search_space.word}}"))
    sweep, trials = _run(workspace, path)
    assert sweep.status.value == "completed", sweep.view.failure_reason
    points = sorted((_params(trial)["x"], _params(trial)["word"]) for trial in trials)
    assert points == sorted((x, word) for x in (1, 2, 3) for word in ("a", "bb"))
    listed = workspace.cli("job", "list", "--parent", sweep.name, "-o", "json", check=True)
    assert sorted(job["name"] for job in json.loads(listed.stdout)) == sorted(trial.name for trial in trials)
    shown = workspace.cli("job", "show", "-n", sweep.name, check=True).stdout
    best = f"{sweep.name}_0"  # x=1, word=a: the lowest loss, 1 * len("a")
    assert f"trials of {sweep.name} (minimize loss)" in shown and f"best so far: {best} (loss = 1)" in shown
    # the sweep's outputs are its best trial's (x=1, word=a)
    kept = sweep.download(tmp_path / "kept")
    assert (tmp_path / "kept" / "default" / "point.txt").read_text() == "1a", kept


@pytest.mark.parametrize(
    ("policy", "qualities", "stopped"),
    [
        (
            {"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 1, "delay_evaluation": 2},
            [1.0, 0.2, 0.95],
            {1},
        ),
        ({"type": "median_stopping", "evaluation_interval": 1, "delay_evaluation": 2}, [0.5, 1.0, 0.1], {2}),
    ],
)
def test_early_termination_cancels_only_the_trials_that_fall_behind(
    workspace: WorkspaceServer, tmp_path: Path, policy: dict[str, Any], qualities: list[float], stopped: set[int]
) -> None:
    path = _sweep(
        tmp_path, STEADY, search_space={"x": {"type": "choice", "values": qualities}}, sampling_algorithm="grid",
        objective={"goal": "maximize", "primary_metric": "acc"}, early_termination=policy,
        limits={"max_concurrent_trials": 1},  # one at a time: each trial is compared with those before it
    )  # fmt: skip
    sweep, trials = _run(workspace, path)
    assert sweep.status.value == "completed", sweep.view.failure_reason
    statuses = {int(trial.view.tags["kiln.sweep.trial"]): trial.status.value for trial in trials}
    assert statuses == {i: "canceled" if i in stopped else "completed" for i in range(len(qualities))}


def test_a_metric_the_trials_never_log_fails_the_sweep(workspace: WorkspaceServer, tmp_path: Path) -> None:
    path = _sweep(
        tmp_path, OBJECTIVE, search_space={"x": {"type": "uniform", "min_value": 0.0, "max_value": 1.0}},
        objective={"goal": "minimize", "primary_metric": "val_loss"}, limits={"max_total_trials": 2},
    )  # fmt: skip
    sweep, _ = _run(workspace, path)
    assert sweep.status.value == "failed"
    assert "without logging 'val_loss'" in (sweep.view.failure_reason or "")


def test_bad_sweep_files_are_refused_naming_the_field(workspace: WorkspaceServer, tmp_path: Path) -> None:
    path = _sweep(tmp_path, OBJECTIVE, search_space={"x": {"type": "gaussian", "mu": 0, "sigma": 1}})
    with pytest.raises(InvalidSpec, match=r"search_space\.x\.type: 'gaussian' is not a search space type"):
        workspace.client().jobs.create(path)
    path = _sweep(tmp_path, OBJECTIVE, search_space={"y": {"type": "uniform", "min_value": 0, "max_value": 1}})
    with pytest.raises(InvalidSpec, match=r"trial\.command: .*'x' is not in search_space"):
        workspace.client().jobs.create(path)


@pytest.mark.timeout(900)  # six training trials, four at a time: ~50 s on a busy machine, more under a full run
def test_the_sweep_example_runs_as_the_readme_shows(workspace: WorkspaceServer, mlflow_client: Any) -> None:
    """examples/sweeps/sweep.yml (README's command), cut to six trials: the best trial's test RMSE is recorded on the
    sweep's run, every trial's parameters are from the search space."""
    example = Path(__file__).parents[3] / "examples" / "sweeps" / "sweep.yml"
    client = workspace.client()
    sweep = client.jobs.create(example, overrides=["limits.max_total_trials=6"]).wait(timeout=900)
    trials, _ = client.jobs.search(tags={"kiln.parent": sweep.name}, sort="created", limit=100)
    assert sweep.status.value == "completed", sweep.view.failure_reason
    assert len(trials) == 6 and all(trial.status.value == "completed" for trial in trials)
    rmse = {trial.id: mlflow_client.get_run(trial.id).data.metrics["test_rmse"] for trial in trials}
    best_id = mlflow_client.get_run(sweep.id).data.tags["best_child_run_id"]
    assert rmse[best_id] == min(rmse.values()) and rmse[best_id] < 70, rmse  # the data's std is ~77
    for trial in trials:
        params = _params(trial)
        assert 0.0009 < float(params["alpha"]) < 148.5 and params["scaler"] in ("standard", "minmax", "none"), params
