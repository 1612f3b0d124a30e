"""The CartPole example on the tests' one-node Ray cluster (``--set compute=kiln:ray-cluster``): the
same YAML, its driver joining the cluster (not a Ray instance of its own), metrics per iteration in
the job's MLflow run and the policy registered from the job.

Run inside a loopback-only network namespace (DESIGN.md §8), as the README's test command does.
"""

from __future__ import annotations

import json

from tests.conftest import REPO, WorkspaceServer
from tests.integration.runners.ray.test_ray import CLUSTER, ray_head, ray_server  # noqa: F401  (module fixtures)

CARTPOLE = REPO / "examples" / "rllib-cartpole"


def test_the_cartpole_example_runs_on_the_ray_compute_target(ray_server: WorkspaceServer) -> None:  # noqa: F811
    result = ray_server.cli(
        "job", "create", "-f", str(CARTPOLE / "job.yml"), "--set", f"compute=kiln:{CLUSTER}",
        "--set", "inputs.iterations=2", "--set", "inputs.batch_size=500", "--stream", "-o", "json",
    )  # fmt: skip
    start = result.stdout.index("{\n")
    view = json.loads(result.stdout[start:])
    assert view["status"] == "completed" and view["compute"] == CLUSTER, result.stdout[:start][-6000:]
    log = result.stdout[:start]
    assert "Started a local Ray instance" not in log  # it joined the cluster
    assert "rllib: iteration   2" in log
    with ray_server.client() as client:
        version = client.models.get_version("cartpole-policy", "latest")
        assert version.job == view["name"]
        history = client.jobs.metric_histories(view["name"])["episode_return_mean"]
    assert history.steps == [500, 1000]
