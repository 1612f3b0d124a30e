"""PPO on an environment defined in this job's code (thermostat.py), tracked like any RLlib job:
each iteration in the job's MLflow run, the greedy policy saved as an MLflow model."""

import argparse

import mlflow
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from thermostat import Thermostat

from kiln.integrations import rllib as kiln_rllib

parser = argparse.ArgumentParser()
parser.add_argument("--iterations", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=1000)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--policy", required=True)
args = parser.parse_args()
mlflow.log_params({"iterations": args.iterations, "batch_size": args.batch_size, "seed": args.seed})

kiln_rllib.init_ray()
config = (
    kiln_rllib.algorithm_config("PPO", Thermostat, steps=50)  # the class itself, with its env_config
    .env_runners(num_env_runners=0)
    .training(train_batch_size_per_learner=args.batch_size, minibatch_size=128, num_epochs=10, vf_loss_coeff=0.01)
    .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[32, 32]))
    .debugging(seed=args.seed)
)
kiln_rllib.track(config)
algo = config.build_algo()
returns = [algo.train()["env_runners"]["episode_return_mean"] for _ in range(args.iterations)]
mlflow.log_metrics({"first_episode_return_mean": returns[0], "last_episode_return_mean": returns[-1]})
kiln_rllib.save_policy(algo, args.policy)
print(f"mean episode return {returns[0]:.1f} -> {returns[-1]:.1f}")
algo.stop()
