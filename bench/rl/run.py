"""Reinforcement learning through kiln against the same script started directly: PPO on CartPole (RLlib).

    python bench/rl/run.py [--pairs 3] [--iterations 30] [--target-return 195] [--out result.json]

Each pair runs, alternately (direct then kiln, then kiln then direct, so neither always goes first on a
machine that warms up or gets busier), the example ``examples/rllib-cartpole``:
- kiln: ``kiln job create -f examples/rllib-cartpole/job.yml`` on local compute (a private Ray instance in
  the job, each iteration logged to the job's MLflow run, the policy registered) → status ``completed``;
- direct: the job's command with the same inputs, started in the example's ``src`` folder, logging to the
  same workspace's MLflow (a run made for it) and saving the policy to a scratch folder.
Both stop once the mean episode return reaches ``--target-return`` (195, CartPole's "solved"), or after
``--iterations``. Per run: the wall time (submit → completed for kiln; start → exit for the direct run),
and the wall time to a mean return of 195 (from the same start to the MLflow timestamp of the first
iteration at or above it). kiln's overhead is the ratio of the medians minus one (each pair's ratio is printed
too: on a machine whose load swings, the pairs show how much); the goal (issue 19) is under 5 % of wall time.
RLlib's own start (imports, Ray) is in both. A run to 195 takes 3 min on a quiet 2-core machine, 6-8 min on a
busy one: ``--pairs 2`` is what the note's figures used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

from workspace_server import BenchWorkspace, create_job_with_the_cli  # noqa: E402

from kiln.specs.job import CommandJobSpec, literal_input_value, render_command  # noqa: E402
from kiln.specs.yaml_source import parse_yaml  # noqa: E402

JOB_FILE = REPO / "examples" / "rllib-cartpole" / "job.yml"
TARGET = 0.05
RETURN_METRIC = "episode_return_mean"


@dataclass
class Run:
    way: str  # "direct" or "kiln"
    wall_s: float
    to_target_s: float | None  # None: the target was not reached within the iterations
    iterations: int
    best_return: float
    first_iteration_s: float  # from the start to the first iteration's metric: Ray's and RLlib's start, kiln's launch
    per_iteration_s: float  # the pace after it: the training itself


def direct_command(iterations: int, target: float, policy: Path) -> str:
    spec = CommandJobSpec.model_validate(parse_yaml(JOB_FILE.read_text(), JOB_FILE).data)
    inputs = {name: str(literal_input_value(item)) for name, item in spec.inputs.items()}
    inputs |= {"iterations": str(iterations), "target_return": str(target)}
    return render_command(spec.command, {"inputs": inputs, "outputs": {"policy": str(policy)}})


def summary(client, run_id: str, started: float, target: float) -> tuple[float | None, int, float, float, float]:  # type: ignore[no-untyped-def]
    """From the run's MLflow history: seconds from ``started`` (epoch) to the first iteration at ``target``,
    iterations, best mean return, seconds to the first iteration, seconds per iteration after it."""
    history = sorted(client.get_metric_history(run_id, RETURN_METRIC), key=lambda point: point.step)
    seconds = [point.timestamp / 1000 - started for point in history]
    reached = [at for at, point in zip(seconds, history, strict=True) if point.value >= target]
    best = max((point.value for point in history), default=float("nan"))
    first = seconds[0] if seconds else float("nan")
    pace = (seconds[-1] - seconds[0]) / (len(seconds) - 1) if len(seconds) > 1 else float("nan")
    return (reached[0] if reached else None), len(history), best, first, pace


def run_direct(mlflow_client, env: dict[str, str], scratch: Path, iterations: int, target: float) -> Run:  # type: ignore[no-untyped-def]
    experiment = mlflow_client.get_experiment_by_name("bench-rl-direct")
    experiment_id = experiment.experiment_id if experiment else mlflow_client.create_experiment("bench-rl-direct")
    run_id = mlflow_client.create_run(experiment_id).info.run_id
    policy = Path(tempfile.mkdtemp(dir=scratch)) / "policy"
    direct_env = env | {
        "MLFLOW_TRACKING_URI": env["KILN_URL"] + "/mlflow", "MLFLOW_TRACKING_TOKEN": env["KILN_TOKEN"],
        "MLFLOW_RUN_ID": run_id, "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
    }  # fmt: skip
    code = Path(tempfile.mkdtemp(dir=scratch)) / "src"  # a copy, as a job gets: its ./outputs stay out of the repo
    shutil.copytree(JOB_FILE.parent / "src", code)
    started = time.time()
    done = subprocess.run(
        ["bash", "-c", direct_command(iterations, target, policy)], cwd=code, env=direct_env, capture_output=True,
    )  # fmt: skip
    wall = time.time() - started
    if done.returncode != 0:
        raise SystemExit(f"the direct run failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    mlflow_client.set_terminated(run_id)
    return Run("direct", wall, *summary(mlflow_client, run_id, started, target))


def run_kiln(client, mlflow_client, env: dict[str, str], iterations: int, target: float) -> Run:  # type: ignore[no-untyped-def]
    overrides = ["--set", f"inputs.iterations={iterations}", "--set", f"inputs.target_return={target}"]
    started = time.time()
    view = create_job_with_the_cli(client, JOB_FILE, overrides, env, timeout=3600)
    wall = time.time() - started
    return Run("kiln", wall, *summary(mlflow_client, view.id, started, target))


def pairs(runs: list[Run]) -> list[tuple[Run, Run]]:
    """(direct, kiln) of each pair, in the order the pairs ran."""
    by_pair = [runs[i : i + 2] for i in range(0, len(runs) - 1, 2)]
    return [(a, b) if a.way == "direct" else (b, a) for a, b in by_pair]


def median_or_none(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if len(known) == len(values) and known else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=30, help="at most this many training iterations per run")
    parser.add_argument("--target-return", type=float, default=195.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from mlflow import MlflowClient

    from kiln import Client

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="kiln-bench-rl-") as tmp, BenchWorkspace(Path(tmp)) as workspace:
        os.environ |= {"MLFLOW_TRACKING_TOKEN": workspace.token}
        mlflow_client = MlflowClient(tracking_uri=workspace.url + "/mlflow")
        with Client(url=workspace.url, token=workspace.token) as client:
            for pair in range(args.pairs):
                ways = ["direct", "kiln"] if pair % 2 == 0 else ["kiln", "direct"]
                for way in ways:
                    if way == "direct":
                        run = run_direct(mlflow_client, workspace.env, Path(tmp), args.iterations, args.target_return)
                    else:
                        run = run_kiln(client, mlflow_client, workspace.env, args.iterations, args.target_return)
                    runs.append(run)
                    reached = f"{run.to_target_s:7.1f} s" if run.to_target_s is not None else "not reached"
                    print(
                        f"pair {pair + 1} {run.way:<6} wall {run.wall_s:7.1f} s  to return {args.target_return:g}: "
                        f"{reached}  ({run.iterations} iterations, best {run.best_return:.1f}; first iteration at "
                        f"{run.first_iteration_s:.1f} s, then {run.per_iteration_s:.2f} s each)",
                        flush=True,
                    )
    median = statistics.median
    direct = median([r.wall_s for r in runs if r.way == "direct"])
    kiln = median([r.wall_s for r in runs if r.way == "kiln"])
    overhead = kiln / direct - 1
    to_target = {way: median_or_none([r.to_target_s for r in runs if r.way == way]) for way in ("direct", "kiln")}
    print(f"median wall: direct {direct:.1f} s, kiln {kiln:.1f} s: kiln's overhead {overhead:+.1%}")
    paired = [k.wall_s / d.wall_s - 1 for d, k in pairs(runs)]
    print(f"each pair's overhead (kiln / direct - 1): {', '.join(f'{p:+.1%}' for p in paired)}")
    for way, seconds in to_target.items():
        print(f"median wall to a mean return of {args.target_return:g} ({way}): "
              f"{f'{seconds:.1f} s' if seconds is not None else 'not reached in every run'}")  # fmt: skip
    print(f"target: kiln's overhead under {TARGET:.0%} of wall time: {'met' if overhead < TARGET else 'NOT met'}")
    if args.out:
        payload = {"runs": [asdict(r) for r in runs], "overhead": overhead, "pair_overheads": paired}
        payload["to_target_s"] = to_target
        args.out.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
