"""kiln.integrations.rllib: an iteration's result mapped to MLflow metrics, the progress line, the
policy saved as an MLflow model (on a small RLModule-like stand-in, no training), and clear errors
for an unknown algorithm, an unknown environment id and a missing extra."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium
import mlflow
import numpy as np
import pytest
import torch
from torch import nn

from kiln.errors import InvalidSpec, MissingExtra
from kiln.integrations import rllib as kiln_rllib

# the shape of what Algorithm.train() returns on RLlib's current API stack (2.60), trimmed
RESULT: dict[str, Any] = {
    "training_iteration": 3,
    "time_this_iter_s": 4.0,
    "num_env_steps_sampled_lifetime": 3000.0,
    "env_runners": {
        "episode_return_mean": 38.5,
        "episode_return_min": 12.0,
        "episode_return_max": 91.0,
        "episode_len_mean": 38.6,
        "num_episodes": 26,
        "num_env_steps_sampled": 1000,
        "num_env_steps_sampled_lifetime": 3000.0,
    },
    "learners": {
        "__all_modules__": {"num_env_steps_trained_lifetime": 30000.0, "num_trainable_parameters": float("nan")},
        "default_policy": {"total_loss": 8.9, "policy_loss": -0.09, "vf_loss": 9.05, "entropy": 0.63, "other": 1.0},
        "opponent": {"total_loss": 1.5, "entropy": float("nan")},
    },
    "config": {"lr": 0.0003},
}


def test_an_iteration_becomes_metrics_at_its_env_step() -> None:
    step, metrics = kiln_rllib.iteration_metrics(RESULT)
    assert step == 3000
    assert metrics == {
        "episode_return_mean": 38.5, "episode_return_min": 12.0, "episode_return_max": 91.0,
        "episode_len_mean": 38.6, "episodes": 26.0, "env_steps": 3000.0, "iteration": 3.0,
        "iteration_seconds": 4.0, "env_steps_per_second": 250.0,
        "total_loss": 8.9, "policy_loss": -0.09, "vf_loss": 9.05, "entropy": 0.63,
        "opponent/total_loss": 1.5,  # another module's losses carry its id; NaN is left out
    }  # fmt: skip


def test_an_iteration_without_episodes_yet_logs_what_it_has() -> None:
    step, metrics = kiln_rllib.iteration_metrics({"training_iteration": 1, "env_runners": {}, "learners": {}})
    assert step == 0 and metrics == {"iteration": 1.0}


def test_log_iteration_logs_the_metrics_at_the_env_step(monkeypatch: pytest.MonkeyPatch) -> None:
    logged: list[tuple[dict[str, float], int]] = []
    monkeypatch.setattr(mlflow, "log_metrics", lambda metrics, step: logged.append((metrics, step)))
    later = {**RESULT, "env_runners": {**RESULT["env_runners"], "num_env_steps_sampled_lifetime": 4000.0}}
    kiln_rllib.log_iteration(RESULT)
    kiln_rllib.log_iteration(later)
    assert [step for _, step in logged] == [3000, 4000]
    assert logged[0][0] == kiln_rllib.iteration_metrics(RESULT)[1] and logged[1][0]["episode_return_mean"] == 38.5


def test_progress_line_names_return_length_and_steps() -> None:
    _, metrics = kiln_rllib.iteration_metrics(RESULT)
    line = kiln_rllib.progress_line(3, metrics)
    assert line == "rllib: iteration   3, return    38.50, length    38.6, env steps 3000, 250 steps/s"


class FakeModule(nn.Module):
    """An RLModule's inference surface: forward_inference on a batch dict, and its spaces."""

    def __init__(self, observation_space: gymnasium.spaces.Box, action_space: gymnasium.spaces.Space) -> None:
        super().__init__()
        self.observation_space, self.action_space = observation_space, action_space
        outputs = action_space.n if isinstance(action_space, gymnasium.spaces.Discrete) else 2 * action_space.shape[0]
        torch.manual_seed(0)
        self.net = nn.Linear(observation_space.shape[0], outputs)

    def forward_inference(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"action_dist_inputs": self.net(batch["obs"])}


class FakeAlgorithm:
    def __init__(self, module: FakeModule) -> None:
        self.module = module

    def get_module(self, module_id: str = "default_policy") -> FakeModule:
        return self.module


def test_a_discrete_policy_is_saved_as_a_deterministic_model_with_the_env_signature(tmp_path: Path) -> None:
    module = FakeModule(gymnasium.spaces.Box(-1.0, 1.0, (4,), np.float32), gymnasium.spaces.Discrete(3))
    kiln_rllib.save_policy(FakeAlgorithm(module), tmp_path / "policy")
    policy = mlflow.pyfunc.load_model(str(tmp_path / "policy"))
    schema = policy.metadata.get_input_schema()
    assert schema.is_tensor_spec() and schema.inputs[0].shape == (-1, 4) and schema.inputs[0].type == np.float32
    observations = np.random.default_rng(0).uniform(-1, 1, (7, 4)).astype(np.float32)
    actions = policy.predict(observations)
    with torch.no_grad():
        expected = module.net(torch.from_numpy(observations)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(actions, expected)
    np.testing.assert_array_equal(policy.predict(observations[:1]), expected[:1])  # one observation at a time
    np.testing.assert_array_equal(policy.predict(observations), actions)  # the same again: deterministic


def test_a_continuous_policy_acts_with_the_distribution_mean(tmp_path: Path) -> None:
    module = FakeModule(gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32), gymnasium.spaces.Box(-2.0, 2.0, (2,)))
    kiln_rllib.save_policy(FakeAlgorithm(module), tmp_path / "policy")
    observations = np.ones((2, 3), dtype=np.float32)
    actions = mlflow.pyfunc.load_model(str(tmp_path / "policy")).predict(observations)
    with torch.no_grad():
        mean = module.net(torch.from_numpy(observations))[:, :2].numpy()  # [mean, log_std]: the mean
    np.testing.assert_allclose(actions, mean, rtol=1e-5)


def test_unbounded_observation_spaces_still_give_an_example() -> None:
    cartpole = gymnasium.make("CartPole-v1").observation_space  # velocities are unbounded
    examples = kiln_rllib.observation_examples(cartpole, 4)
    assert examples.shape == (4, 4) and examples.dtype == np.float32 and np.isfinite(examples).all()
    with pytest.raises(InvalidSpec, match="Box observation spaces"):
        kiln_rllib.observation_examples(gymnasium.spaces.Discrete(5), 4)


def test_unknown_environment_ids_and_algorithms_are_clear_errors() -> None:
    with pytest.raises(
        InvalidSpec, match=r"unknown environment id 'CartPole-v9'.*close ones: CartPole-v0, CartPole-v1"
    ):
        kiln_rllib.algorithm_config("PPO", "CartPole-v9")
    with pytest.raises(InvalidSpec, match=r"RLlib has no algorithm 'ppo': did you mean 'PPO'\?"):
        kiln_rllib.algorithm_config("ppo", "CartPole-v1")
    with pytest.raises(InvalidSpec, match=r"RLlib has no algorithm 'A9C': RLlib has: .*PPO"):
        kiln_rllib.algorithm_config("A9C", "CartPole-v1")
    config = kiln_rllib.algorithm_config("PPO", "CartPole-v1")
    assert config.env == "CartPole-v1"


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an import of a package that is not installed meets
    with pytest.raises(MissingExtra, match=r'needs \'ray\' \(the kiln\[rl\] extra\).*pip install "kiln\[rl\]"'):
        kiln_rllib.init_ray()
