"""A small sweep whose trials run on the tests' one-node Ray cluster (``compute: kiln:ray-cluster``): the sweep
logic stays in the workspace server, each trial is a command job the Ray runner submits through the Jobs API,
and the trials' metrics, logged from the cluster, decide the best one as on local compute.

Run inside a loopback-only network namespace (DESIGN.md §8), as the README's test command does."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import WorkspaceServer
from tests.integration.runners.ray.test_ray import CLUSTER, ray_head, ray_server  # noqa: F401  (module fixtures)
from tests.integration.sweeps.test_sweeps import OBJECTIVE, _run, _sweep


def test_a_small_sweep_runs_its_trials_on_the_ray_cluster(ray_server: WorkspaceServer, tmp_path: Path) -> None:  # noqa: F811
    path = _sweep(
        tmp_path, OBJECTIVE, compute=f"kiln:{CLUSTER}",
        search_space={"x": {"type": "choice", "values": [0.0, 0.3, 0.9]}},
        sampling_algorithm="grid", limits={"max_concurrent_trials": 3},
    )  # fmt: skip
    sweep, trials = _run(ray_server, path, timeout=300)
    assert sweep.status.value == "completed", sweep.view.failure_reason
    assert len(trials) == 3 and all(trial.status.value == "completed" for trial in trials)
    assert {trial.view.compute for trial in trials} == {CLUSTER}
    assert {trial.view.tags["kiln.sweep.params"] for trial in trials} == {'{"x": 0.0}', '{"x": 0.3}', '{"x": 0.9}'}
    recorded = sweep.refresh(run_data=True).view
    assert recorded.params == {"x": "0.3"}  # (x - 0.3)**2 is least there
    assert recorded.metrics == {"loss": 0.0}
