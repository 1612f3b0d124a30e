"""Sweeps whose ``trial`` is a command component (Azure's ``trial: azureml:NAME:VERSION`` or ``trial: file:./x.yml``):
the sweep's ``inputs`` bind the component's inputs (``${{search_space.x}}`` the trial's value), a search space
parameter named like an input binds it too; both find the optimum of the tiny objective of test_sweeps.py; an
unknown component, an input the component does not have and a value of the wrong type are refused at submit with
their YAML path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiln.errors import InvalidSpec, NotFound
from tests.conftest import WorkspaceServer
from tests.integration.pipelines.helpers import write_yaml
from tests.integration.sweeps.test_sweeps import OBJECTIVE, OPTIMUM, _params

GRID = {"x": {"type": "choice", "values": [0.0, 0.3, 0.6, 0.9]}}


def _component(folder: Path, name: str) -> Path:
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "trial.py").write_text(OBJECTIVE)
    return write_yaml(folder / "objective.yml", {
        "$schema": "https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json",
        "type": "command", "name": name, "code": "./src", "command": "python trial.py ${{inputs.x}} ${{inputs.tag}}",
        "inputs": {"x": {"type": "number"}, "tag": {"type": "string", "default": "t"}},
    })  # fmt: skip


def _sweep(folder: Path, trial: str, **fields: Any) -> Path:
    return write_yaml(folder / "sweep.yml", {
        "$schema": "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json",
        "type": "sweep", "experiment_name": "sweep-component-tests", "trial": trial, "search_space": GRID,
        "sampling_algorithm": "grid", "objective": {"goal": "minimize", "primary_metric": "loss"},
        "limits": {"max_concurrent_trials": 4}, **fields,
    })  # fmt: skip


def _best(workspace: WorkspaceServer, path: Path) -> Any:
    """The sweep's best trial (``kiln job show`` names it), after every grid point ran once."""
    with workspace.client() as client:
        sweep = client.jobs.create(path).wait(timeout=180)
        assert sweep.status.value == "completed", sweep.view.failure_reason
        trials, _ = client.jobs.search(tags={"kiln.parent": sweep.name}, sort="created", limit=100)
    assert sorted(_params(trial)["x"] for trial in trials) == [0.0, 0.3, 0.6, 0.9]
    shown = workspace.cli("job", "show", "-n", sweep.name, check=True, env={"COLUMNS": "300"}).stdout
    best = shown.split("best so far:")[1].split()[0]
    return next(trial for trial in trials if trial.name == best)


def test_a_registered_component_trial_binds_the_search_space_through_inputs(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    with workspace.client() as client:
        client.components.create(_component(tmp_path / "c", "sw_objective"))
    path = _sweep(tmp_path, "azureml:sw_objective@latest", inputs={"x": "${{search_space.x}}", "tag": "grid"})
    best = _best(workspace, path)
    assert _params(best)["x"] == OPTIMUM
    assert best.view.inputs == {"x": 0.3, "tag": "grid"}  # the component's inputs, bound by the sweep's


def test_a_file_component_trial_takes_the_search_space_by_input_name(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    _component(tmp_path, "sw_file_objective")
    best = _best(workspace, _sweep(tmp_path, "file:./objective.yml"))
    assert _params(best)["x"] == OPTIMUM


def test_bad_component_trials_are_refused_at_submit_naming_the_path(workspace: WorkspaceServer, tmp_path: Path) -> None:
    _component(tmp_path, "sw_bad_objective")
    with workspace.client() as client:
        with pytest.raises(NotFound, match=r"trial: component 'sw_nowhere:3' not found"):
            client.jobs.create(_sweep(tmp_path, "azureml:sw_nowhere:3"))
        with pytest.raises(InvalidSpec, match=r"inputs\.lr: component 'sw_bad_objective' has no input 'lr'"):
            client.jobs.create(_sweep(tmp_path, "file:./objective.yml", inputs={"lr": "${{search_space.x}}"}))
        with pytest.raises(InvalidSpec, match=r"inputs\.x: a number input takes a number"):
            client.jobs.create(_sweep(tmp_path, "file:./objective.yml", inputs={"x": "fast"}))
        with pytest.raises(InvalidSpec, match=r"line \d+: inputs\.x: .*'y' is not in search_space"):
            client.jobs.create(_sweep(tmp_path, "file:./objective.yml", inputs={"x": "${{search_space.y}}"}))
        with pytest.raises(InvalidSpec, match=r"trial: component file .*not found"):
            client.jobs.create(_sweep(tmp_path, "file:./missing.yml"))
