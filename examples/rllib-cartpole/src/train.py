"""PPO on gymnasium's CartPole with RLlib's current API stack, as a kiln job: each training iteration
logged to the job's MLflow run, checkpoints in ./outputs, the policy saved as an MLflow model
(observation -> action) that an online endpoint serves with no code."""

import argparse

import mlflow
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

from kiln.integrations import rllib as kiln_rllib

parser = argparse.ArgumentParser()
parser.add_argument("--algorithm", default="PPO")
parser.add_argument("--env", default="CartPole-v1")
parser.add_argument("--iterations", type=int, default=30)
parser.add_argument("--target-return", type=float, default=195.0, help="stop once the mean return reaches it")
parser.add_argument("--batch-size", type=int, default=1000, help="environment steps per iteration")
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--learning-rate", type=float, default=0.0003)
parser.add_argument("--checkpoint-every", type=int, default=10)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--policy", required=True, help="where the policy is saved (the job's outputs.policy)")
args = parser.parse_args()
mlflow.log_params({name: value for name, value in vars(args).items() if name != "policy"})

config = (
    kiln_rllib.algorithm_config(args.algorithm, args.env)
    .env_runners(num_env_runners=0)  # sample in the driver: a tiny environment needs no actors
    .training(
        lr=args.learning_rate,
        train_batch_size_per_learner=args.batch_size,
        minibatch_size=128,
        num_epochs=10,
        vf_loss_coeff=0.01,
    )
    .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[args.hidden, args.hidden]))
    .debugging(seed=args.seed)
)
kiln_rllib.track(config, checkpoint_every=args.checkpoint_every)
kiln_rllib.init_ray()  # after the config: a bad algorithm or environment id fails before Ray starts
algo = config.build_algo()

best = float("-inf")
for _ in range(args.iterations):
    result = algo.train()
    mean_return = result["env_runners"].get("episode_return_mean", float("nan"))
    best = max(best, mean_return)
    if mean_return >= args.target_return:
        break
mlflow.log_metric("best_episode_return_mean", best)
kiln_rllib.save_checkpoint(algo)  # ./outputs/checkpoint: Algorithm.from_checkpoint restores it
kiln_rllib.save_policy(algo, args.policy)
print(f"best mean episode return {best:.1f}; policy saved to {args.policy}")
algo.stop()
