"""The RLlib examples end to end on local compute: PPO on CartPole trained tiny by a job (one MLflow point
per iteration, a checkpoint in its outputs), its policy registered with lineage to the job and served
by an online endpoint that a CartPole rollout drives over REST; the custom-environment example; a bad
environment id. (A private Ray instance in a job on local compute: test_rllib_private_ray.py.)

Run inside a loopback-only network namespace (DESIGN.md §8): the jobs start Ray.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium
import httpx
import mlflow
import numpy as np
import pytest

from tests.conftest import REPO, WorkspaceServer

CARTPOLE = REPO / "examples" / "rllib-cartpole"
CUSTOM_ENV = REPO / "examples" / "rllib-custom-env"
ENDPOINT = "cartpole-policy"  # examples/rllib-cartpole/endpoint.yml
# the tiny run: PPO stops once its mean episode return reaches this (a random policy scores ~20); seed 0
# reaches it in 4 iterations of 1000 steps (24, 29, 38, 65), in the 8 allowed
TINY_TARGET = 50
TINY = ("--set", "inputs.iterations=8", "--set", f"inputs.target_return={TINY_TARGET}")


def _run_job(workspace: WorkspaceServer, job_file: Path, *overrides: str) -> dict[str, Any]:
    result = workspace.cli("job", "create", "-f", str(job_file), *overrides, "--stream", "-o", "json")
    start = result.stdout.index("{\n")
    view: dict[str, Any] = json.loads(result.stdout[start:])
    assert view["status"] == "completed", result.stdout[:start][-6000:] + result.stderr[-2000:]
    return view


def _rollout_over_rest(url: str, auth: dict[str, str], episodes: int) -> list[float]:
    """CartPole episodes here, each action asked of the endpoint for the current observation."""
    env = gymnasium.make("CartPole-v1")
    returns = []
    with httpx.Client(headers=auth, timeout=60) as http:
        for episode in range(episodes):
            observation, _ = env.reset(seed=100 + episode)
            total, done = 0.0, False
            while not done:
                response = http.post(url, json={"input_data": [observation.tolist()]})
                assert response.status_code == 200, response.text
                (action,) = response.json()
                observation, reward, terminated, truncated, _ = env.step(int(action))
                total, done = total + float(reward), terminated or truncated
            returns.append(total)
    return returns


# 150-190 s on a quiet 2-core machine; 460 s at a load average of 13 (the job alone over 300 s)
@pytest.mark.timeout(900)
def test_cartpole_learns_registers_its_policy_and_an_endpoint_serves_it(
    workspace: WorkspaceServer, mlflow_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    job = _run_job(workspace, CARTPOLE / "job.yml", *TINY)
    run = mlflow_client.get_run(job["id"])
    iterations = int(run.data.metrics["iteration"])
    assert 1 <= iterations <= 8
    best = run.data.metrics["best_episode_return_mean"]
    assert best >= TINY_TARGET  # learned: well above a random policy's ~20
    # one point per iteration, at the environment steps sampled so far
    history = mlflow_client.get_metric_history(job["id"], "episode_return_mean")
    assert [point.step for point in history] == [1000 * (i + 1) for i in range(iterations)]
    assert max(point.value for point in history) == best
    for name in ("episode_return_min", "episode_return_max", "episode_len_mean", "total_loss", "env_steps_per_second"):
        assert len(mlflow_client.get_metric_history(job["id"], name)) == iterations, name

    # the policy: registered by the job's run, shown with its lineage
    versions = mlflow_client.search_model_versions(f"name = '{ENDPOINT}'")
    version = max(versions, key=lambda v: int(v.version))
    assert version.run_id == job["id"]
    shown = workspace.cli("model", "show", "-n", ENDPOINT, check=True).stdout
    assert job["name"] in shown
    with workspace.client() as client:
        (producer,) = client.models.lineage(ENDPOINT, version.version).upstream
    assert producer.kind == "job" and producer.id == job["name"]
    policy = mlflow.pyfunc.load_model(f"models:/{ENDPOINT}/{version.version}")
    # the whole algorithm's checkpoint is kept with the job's outputs
    workspace.cli(
        "job", "download", "-n", job["name"], "--output-name", "default", "--download-path", str(tmp_path), check=True
    )
    assert list(tmp_path.rglob("rllib_checkpoint.json")), sorted(str(p) for p in tmp_path.rglob("*"))[:40]

    # served with no code: POST observations, get actions; a rollout over REST scores like training did
    workspace.cli("online-endpoint", "create", "-f", str(CARTPOLE / "endpoint.yml"), check=True)
    try:
        workspace.cli(
            "online-deployment", "create", "-f", str(CARTPOLE / "deployment.yml"), "--all-traffic", check=True
        )
        invoked = workspace.cli(
            "online-endpoint", "invoke", "-n", ENDPOINT, "--request-file", str(CARTPOLE / "sample-request.json"),
            check=True,
        )  # fmt: skip
        request = json.loads((CARTPOLE / "sample-request.json").read_text())["input_data"]
        expected = policy.predict(np.array(request, dtype=np.float32)).tolist()
        assert json.loads(invoked.stdout) == expected and set(expected) <= {0, 1}
        with workspace.client() as client:
            url = client.online_endpoints.get(ENDPOINT).scoring_uri
            auth = {"Authorization": f"Bearer {client.online_endpoints.get_keys(ENDPOINT).primary_key}"}
        returns = _rollout_over_rest(url, auth, episodes=3)
        assert sum(returns) / len(returns) >= 0.6 * best, (returns, best)
        wrong_shape = httpx.post(url, json={"input_data": [[0.0, 0.0, 0.05]]}, headers=auth, timeout=60)
        assert wrong_shape.status_code == 400 and "4" in wrong_shape.text, wrong_shape.text
    finally:
        workspace.cli("online-endpoint", "delete", "-n", ENDPOINT, check=True)


def test_the_custom_environment_example_trains_and_registers(workspace: WorkspaceServer, mlflow_client) -> None:  # type: ignore[no-untyped-def]
    job = _run_job(workspace, CUSTOM_ENV / "job.yml", "--set", "inputs.iterations=2", "--set", "inputs.batch_size=500")
    assert len(mlflow_client.get_metric_history(job["id"], "episode_return_mean")) == 2
    (version,) = mlflow_client.search_model_versions("name = 'thermostat-policy'")[:1]
    assert version.run_id == job["id"]


def test_an_unknown_environment_id_fails_the_job_with_a_clear_error(workspace: WorkspaceServer) -> None:
    result = workspace.cli(
        "job", "create", "-f", str(CARTPOLE / "job.yml"), "--set", "inputs.env=CartPole-v9", "--stream", "-o", "json"
    )
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "failed"
    log = workspace.cli("job", "logs", "-n", view["name"]).stdout + result.stdout
    assert "unknown environment id 'CartPole-v9'" in log and "CartPole-v1" in log
