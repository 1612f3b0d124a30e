"""Ray RLlib in a kiln job: a private Ray instance that stays on the machine, each training iteration
logged to the job's MLflow run, checkpoints in ``./outputs``, and the trained policy saved as an MLflow
model that an online endpoint serves with no scoring code (observation in, action out).

A training script::

    from kiln.integrations import rllib as kiln_rllib

    kiln_rllib.init_ray()                                   # private and loopback-only, or the job's cluster
    config = kiln_rllib.algorithm_config("PPO", "CartPole-v1")
    kiln_rllib.track(config, checkpoint_every=5)            # metrics per iteration, checkpoints
    algo = config.build_algo()
    for _ in range(20):
        algo.train()
    kiln_rllib.save_policy(algo, args.policy)               # a job's ${{outputs.policy}} (type: mlflow_model)

Ray and RLlib are imported on first use through :mod:`kiln.extras` (the ``kiln[rl]`` extra).
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidSpec
from kiln.extras import require_extra

if TYPE_CHECKING:
    import torch

NEEDED_BY = "kiln.integrations.rllib"
OUTPUTS = Path("outputs")
# set in a job on local compute: the job site's sitecustomize makes ray.init() start a private instance
JOB_SITE_KEEPS_RAY_PRIVATE = "KILN_RAY_TEMP_DIR"
# what the job's Ray instance shows of itself: nothing beyond loopback, no usage report
_PRIVATE_RAY_VARIABLES = {"RAY_USAGE_STATS_ENABLED": "0"}
# per module (policy) of a learner: the losses RLlib reports for its algorithms
LOSS_KEYS = ("total_loss", "policy_loss", "vf_loss", "entropy", "mean_kl_loss", "qf_loss", "alpha_loss")


def init_ray(num_cpus: int | None = None, **options: Any) -> None:
    """Start Ray for this job, unless it runs already.

    Inside a job on a Ray compute target (``RAY_ADDRESS`` set by Ray's job submission), this joins the
    cluster. In a job on local compute, ``ray.init`` itself starts a private instance (the job site sees to
    it: loopback only, the job's CPUs, its temp folder in the job's folder). Elsewhere (the script run
    directly) this starts the same kind of instance: loopback only, usage statistics off, no dashboard, at
    most ``num_cpus`` (default: the CPUs this process may use). Its processes end with the job's.
    """
    ray = require_extra("rl", "ray", needed_by=NEEDED_BY)
    if ray.is_initialized():
        return
    os.environ.update(_PRIVATE_RAY_VARIABLES)
    cpus = {"num_cpus": num_cpus} if num_cpus else {}
    if os.environ.get("RAY_ADDRESS", "local") != "local":
        ray.init(**{"log_to_driver": True, **options})
    elif os.environ.get(JOB_SITE_KEEPS_RAY_PRIVATE):
        ray.init(**cpus, **options)
    else:
        ray.init(
            **{
                "address": "local",
                "num_cpus": num_cpus or available_cpus(),
                "include_dashboard": False,
                "_node_ip_address": "127.0.0.1",
                "dashboard_host": "127.0.0.1",
                "_temp_dir": str(ray_temp_dir()),
                **options,
            }
        )


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def ray_temp_dir() -> Path:
    """A new folder in ``/tmp`` (short enough for Ray's sockets), removed when this Python exits."""
    folder = Path(tempfile.mkdtemp(prefix="kray-", dir="/tmp" if os.path.isdir("/tmp") else None))
    atexit.register(_shutdown_ray_and_remove, folder)
    return folder


def _shutdown_ray_and_remove(folder: Path) -> None:
    """Ray's own exit handler (registered when Ray is imported, so it runs after this one) would write below
    ``folder`` again (its spill folder): Ray is shut down first."""
    import ray

    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def algorithm_config(algorithm: str, env: Any, **env_config: Any) -> Any:
    """RLlib's config of ``algorithm`` (``"PPO"``, ``"DQN"``…) on ``env``: a gymnasium id, or an
    environment class defined in the job's code; ``env_config`` goes to that class. A name RLlib
    lacks, or an id gymnasium does not know, is an :class:`~kiln.errors.InvalidSpec` naming the choices."""
    require_extra("rl", "ray.rllib", needed_by=NEEDED_BY)
    from ray.rllib.algorithms.registry import ALGORITHMS

    if algorithm not in ALGORITHMS:
        close = [name for name in ALGORITHMS if name.lower() == algorithm.lower()]
        hint = f"did you mean {close[0]!r}?" if close else f"RLlib has: {', '.join(sorted(ALGORITHMS))}"
        raise InvalidSpec(f"RLlib has no algorithm {algorithm!r}: {hint}")
    if isinstance(env, str):
        check_env_id(env)
    _, config = ALGORITHMS[algorithm]()  # the algorithm's class and its default config
    return config.environment(env, env_config=env_config) if env_config else config.environment(env)


def check_env_id(env_id: str) -> None:
    """InvalidSpec unless gymnasium knows ``env_id`` (or RLlib's registry has it)."""
    import gymnasium

    if env_id in gymnasium.registry:
        return
    from ray.tune.registry import ENV_CREATOR, _global_registry

    if _global_registry.contains(ENV_CREATOR, env_id):
        return
    base = env_id.split("-v", 1)[0].lower()
    close = sorted(name for name in gymnasium.registry if name.lower().startswith(base))[:5]
    hint = f"close ones: {', '.join(close)}" if close else "e.g. CartPole-v1, Pendulum-v1, MountainCar-v0"
    raise InvalidSpec(
        f"unknown environment id {env_id!r}: gymnasium has no such environment ({hint}); "
        "a custom environment is passed as its class, or registered with ray.tune.register_env"
    )


def iteration_metrics(result: Mapping[str, Any]) -> tuple[int, dict[str, float]]:
    """The MLflow metrics of one training iteration's ``result`` (``algo.train()``), and their step:
    the environment steps sampled so far. Episode return mean/min/max and length, episodes, env steps,
    throughput (env steps per second of the iteration), and each module's learner losses (named
    ``loss`` for the default module, ``MODULE/loss`` for others)."""
    runners = result.get("env_runners", {})
    steps = _number(runners.get("num_env_steps_sampled_lifetime", result.get("num_env_steps_sampled_lifetime")))
    metrics = {
        "episode_return_mean": runners.get("episode_return_mean"),
        "episode_return_min": runners.get("episode_return_min"),
        "episode_return_max": runners.get("episode_return_max"),
        "episode_len_mean": runners.get("episode_len_mean"),
        "episodes": runners.get("num_episodes"),
        "env_steps": steps,
        "iteration": result.get("training_iteration"),
        "iteration_seconds": result.get("time_this_iter_s"),
    }
    sampled, seconds = _number(runners.get("num_env_steps_sampled")), _number(result.get("time_this_iter_s"))
    if sampled is not None and seconds:
        metrics["env_steps_per_second"] = sampled / seconds
    for module, values in result.get("learners", {}).items():
        if module.startswith("__") or not isinstance(values, Mapping):
            continue
        prefix = "" if module == "default_policy" else f"{module}/"
        metrics.update({f"{prefix}{key}": values.get(key) for key in LOSS_KEYS})
    logged = {name: number for name, value in metrics.items() if (number := _number(value)) is not None}
    return int(steps or 0), logged


def log_iteration(result: Mapping[str, Any]) -> dict[str, float]:
    """Log one iteration's :func:`iteration_metrics` to the active MLflow run (a job's own run)."""
    import mlflow

    step, metrics = iteration_metrics(result)
    mlflow.log_metrics(metrics, step=step)
    return metrics


def track(
    config: Any, *, checkpoint_every: int | None = None, checkpoints: str | Path = OUTPUTS / "checkpoints"
) -> Any:
    """Add kiln's callback to an RLlib ``config``: each iteration logged to the job's MLflow run,
    one progress line printed, and every ``checkpoint_every`` iterations a checkpoint saved to
    ``checkpoints/iteration-N`` (default below ``./outputs``, kept with the job)."""
    config.callbacks(on_train_result=_on_train_result(checkpoint_every, Path(checkpoints)))
    return config


def _on_train_result(checkpoint_every: int | None, checkpoints: Path) -> Callable[..., None]:
    def on_train_result(*, algorithm: Any, result: Mapping[str, Any], **_: Any) -> None:
        metrics = log_iteration(result)
        iteration = int(result.get("training_iteration", 0))
        print(progress_line(iteration, metrics), flush=True)
        if checkpoint_every and iteration % checkpoint_every == 0:
            save_checkpoint(algorithm, checkpoints / f"iteration-{iteration}")

    return on_train_result


def progress_line(iteration: int, metrics: Mapping[str, float]) -> str:
    """One line per iteration for the job's log (what ``kiln job stream`` shows)."""
    parts = [f"iteration {iteration:3d}"]
    if "episode_return_mean" in metrics:
        parts.append(f"return {metrics['episode_return_mean']:8.2f}")
    if "episode_len_mean" in metrics:
        parts.append(f"length {metrics['episode_len_mean']:7.1f}")
    if "env_steps" in metrics:
        parts.append(f"env steps {int(metrics['env_steps'])}")
    if "env_steps_per_second" in metrics:
        parts.append(f"{metrics['env_steps_per_second']:.0f} steps/s")
    return "rllib: " + ", ".join(parts)


def save_checkpoint(algo: Any, path: str | Path = OUTPUTS / "checkpoint") -> Path:
    """Save ``algo``'s whole state (``Algorithm.from_checkpoint`` restores it) to ``path``."""
    target = Path(path).absolute()
    target.mkdir(parents=True, exist_ok=True)
    algo.save_to_path(str(target))
    return target


def save_policy(algo: Any, path: str | Path, *, module_id: str | None = None, rows: int = 4) -> None:
    """Save ``algo``'s policy as an MLflow model at ``path`` (e.g. a job's ``${{outputs.policy}}``):
    the deterministic action for each observation (the most likely one for a discrete action space,
    the mean for a continuous one), with a signature from the environment's observation space. It is
    a PyTorch model exported without Ray (``pt2``), so an online endpoint serves it with no code."""
    from kiln.integrations import torch as kiln_torch

    module = algo.get_module(module_id) if module_id else algo.get_module()
    policy = greedy_policy(module)
    kiln_torch.save_model(policy, path, observation_examples(module.observation_space, rows))


def greedy_policy(module: Any) -> torch.nn.Module:
    """The deterministic policy of an RLlib torch RLModule, as a plain ``torch.nn.Module``."""
    import gymnasium

    torch_module = require_extra("torch", needed_by=NEEDED_BY)
    space = module.action_space
    if isinstance(space, gymnasium.spaces.Discrete):
        pick: Callable[[Any], Any] = lambda inputs: inputs.argmax(dim=-1) + int(space.start)  # noqa: E731
    elif isinstance(space, gymnasium.spaces.Box) and space.dtype.kind == "f":
        size = math.prod(space.shape)
        pick = lambda inputs: inputs[..., :size].reshape(-1, *space.shape)  # noqa: E731  # the Gaussian's mean
    else:
        raise InvalidSpec(f"save_policy supports Discrete and continuous Box action spaces, not {space!r}")

    class GreedyPolicy(torch_module.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, observation: torch.Tensor) -> torch.Tensor:
            return pick(self.module.forward_inference({"obs": observation})["action_dist_inputs"])

    return GreedyPolicy()


def observation_examples(space: Any, rows: int) -> Any:
    """``rows`` observations sampled from ``space`` (a Box), stacked: the saved model's input example."""
    import gymnasium
    import numpy as np

    if not isinstance(space, gymnasium.spaces.Box):
        raise InvalidSpec(f"save_policy supports Box observation spaces (arrays of numbers), not {space!r}")
    space = gymnasium.spaces.Box(
        np.clip(space.low, -10.0, 10.0), np.clip(space.high, -10.0, 10.0), space.shape, space.dtype, seed=0
    )  # finite bounds: CartPole's velocities are unbounded
    return np.stack([space.sample() for _ in range(max(rows, 2))]).astype(np.float32)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
