"""A sweep through kiln against the same trials run directly with Optuna: kiln's overhead per trial.

    python bench/sweeps/run.py [--trials 20] [--concurrency 1] [--pairs 2] [--out result.json]

Both run the same ``--trials`` trials of ``src/objective.py`` (a quick script: ``import mlflow``, one
``log_metric``): the points the sweep's random sampling draws (``x`` uniform in [0, 1], ``y`` uniform in [-1, 1],
a fixed seed), ``--concurrency`` trials at a time, each trial logging to the same workspace's MLflow:

- kiln: a ``type: sweep`` job submitted with the SDK (``client.jobs.create``, the code uploaded once) → the sweep's
  status ``completed``: each trial a command job and a nested MLflow run, started by the server's sweep loop;
- direct: an Optuna study given the same points (``study.enqueue_trial``, in order) and ``study.optimize``
  (``n_jobs`` = concurrency), whose objective makes a nested MLflow run under a parent run and starts
  ``python objective.py X Y`` with ``MLFLOW_RUN_ID`` set, reading the loss it prints.

Each pair runs both, alternately first. kiln's overhead per trial is (kiln's wall - direct wall) / trials, from the
medians; the goal (issue 21) is under 0.5 s. On a busy machine a trial's process time swings by seconds, so the
time outside the trials' processes is printed too: (wall - the trials' process times / concurrency) / trials on
each side, and kiln's minus the direct one (the orchestration kiln adds per trial, less sensitive to the load). The kiln side's split (from the trials' job records) says where the
time goes: submit → the trial's process started, its process (started → ended, beside the direct subprocess's
time), and one trial's end → the next trial's submit (the sweep loop looks twice a second). The interpreter's and MLflow's import are in both. On a busy machine the figures are upper
bounds.
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
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from workspace_server import BenchWorkspace  # noqa: E402

TARGET_SECONDS = 0.5  # kiln's overhead per trial
SEED = 11
SPACE = {"x": (0.0, 1.0), "y": (-1.0, 1.0)}


@dataclass
class Run:
    way: str  # "direct" or "kiln"
    wall_s: float
    best_loss: float
    trials: int
    process_s: list[float] = field(default_factory=list)  # per trial: its process (kiln: started → ended)
    # kiln only: per trial, submit → its process started; and a trial's end → the next trial's submit
    to_start_s: list[float] = field(default_factory=list)
    gaps_s: list[float] = field(default_factory=list)


def sweep_spec(trials: int, concurrency: int) -> dict[str, Any]:
    return {
        "$schema": "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json",
        "type": "sweep", "experiment_name": "bench-sweeps",
        "trial": {"code": "./src", "command": "python objective.py ${{search_space.x}} ${{search_space.y}}"},
        "search_space": {name: {"type": "uniform", "min_value": low, "max_value": high}
                         for name, (low, high) in SPACE.items()},
        "sampling_algorithm": {"type": "random", "seed": SEED},
        "objective": {"goal": "minimize", "primary_metric": "loss"},
        "limits": {"max_total_trials": trials, "max_concurrent_trials": concurrency},
    }  # fmt: skip


def sweep_points(trials: int) -> list[dict[str, Any]]:
    """The parameters of the sweep's trials, as the server draws them (random sampling needs no results)."""
    from kiln.sweeps.sampling import draw, values_of
    from kiln.sweeps.spec import SweepJobSpec

    spec = SweepJobSpec.model_validate(sweep_spec(trials, 1))
    return [values_of(spec, draw(spec, index, [])) for index in range(trials)]


def sweep_file(folder: Path, trials: int, concurrency: int) -> Path:
    shutil.copytree(HERE / "src", folder / "src")
    path = folder / "sweep.yml"
    path.write_text(yaml.safe_dump(sweep_spec(trials, concurrency), sort_keys=False))
    return path


def run_kiln(client, folder: Path, trials: int, concurrency: int) -> Run:  # type: ignore[no-untyped-def]
    path = sweep_file(folder, trials, concurrency)
    started = time.monotonic()
    sweep = client.jobs.create(path).wait(timeout=3600, poll=0.05)
    wall = time.monotonic() - started
    if sweep.status.value != "completed":
        raise SystemExit(f"the sweep {sweep.name} ended {sweep.status.value}: {sweep.view.failure_reason}")
    children, _ = client.jobs.search(tags={"kiln.parent": sweep.name}, sort="created", limit=1000)
    views = sorted((child.view for child in children), key=lambda view: int(view.tags["kiln.sweep.trial"]))
    process = [(v.ended_at - v.started_at).total_seconds() for v in views if v.started_at and v.ended_at]
    to_start = [(v.started_at - v.created_at).total_seconds() for v in views if v.started_at]
    gaps = [(after.created_at - before.ended_at).total_seconds() for before, after in pairwise(views)
            if before.ended_at and concurrency == 1]  # fmt: skip
    best = sweep.refresh(run_data=True).view.metrics["loss"]
    return Run("kiln", wall, best, len(views), process, to_start, gaps)


def run_direct(mlflow_client, env: dict[str, str], trials: int, concurrency: int) -> Run:  # type: ignore[no-untyped-def]
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    experiment = mlflow_client.get_experiment_by_name("bench-sweeps-direct")
    experiment_id = experiment.experiment_id if experiment else mlflow_client.create_experiment("bench-sweeps-direct")
    process: list[float] = []
    study = optuna.create_study(direction="minimize")
    for point in sweep_points(trials):
        study.enqueue_trial(point)
    started = time.monotonic()
    parent = mlflow_client.create_run(experiment_id).info.run_id
    trial_env = env | {
        "MLFLOW_TRACKING_URI": env["KILN_URL"] + "/mlflow", "MLFLOW_TRACKING_TOKEN": env["KILN_TOKEN"],
        "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
    }  # fmt: skip

    def objective(trial) -> float:  # type: ignore[no-untyped-def]
        values = {name: trial.suggest_float(name, low, high) for name, (low, high) in SPACE.items()}
        run_id = mlflow_client.create_run(experiment_id, tags={"mlflow.parentRunId": parent}).info.run_id
        begun = time.monotonic()
        done = subprocess.run(
            [sys.executable, "objective.py", repr(values["x"]), repr(values["y"])],
            cwd=HERE / "src", env=trial_env | {"MLFLOW_RUN_ID": run_id}, capture_output=True, text=True,
        )  # fmt: skip
        process.append(time.monotonic() - begun)
        if done.returncode != 0:
            raise SystemExit(f"a direct trial failed:\n{done.stderr[-3000:]}")
        mlflow_client.set_terminated(run_id)
        return float(next(line for line in done.stdout.splitlines() if line.startswith("loss="))[len("loss=") :])

    study.optimize(objective, n_trials=trials, n_jobs=concurrency)
    mlflow_client.set_terminated(parent)
    return Run("direct", time.monotonic() - started, study.best_value, len(study.trials), process)


def outside_per_trial(run: Run, concurrency: int) -> float:
    """Seconds per trial of the run's wall time spent outside the trials' processes."""
    return (run.wall_s - sum(run.process_s) / concurrency) / run.trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1, help="trials at a time, on both sides")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from mlflow import MlflowClient

    from kiln import Client

    runs: list[Run] = []
    settings = {"local_concurrency": str(max(args.concurrency, 2))}
    with tempfile.TemporaryDirectory(prefix="kiln-bench-sweeps-") as tmp, BenchWorkspace(Path(tmp), settings=settings) as workspace:  # fmt: skip
        os.environ |= {"MLFLOW_TRACKING_TOKEN": workspace.token}
        mlflow_client = MlflowClient(tracking_uri=workspace.url + "/mlflow")
        with Client(url=workspace.url, token=workspace.token) as client:
            for pair in range(args.pairs):
                for way in ["direct", "kiln"] if pair % 2 == 0 else ["kiln", "direct"]:
                    if way == "kiln":
                        folder = Path(tempfile.mkdtemp(dir=tmp))
                        run = run_kiln(client, folder, args.trials, args.concurrency)
                    else:
                        run = run_direct(mlflow_client, workspace.env, args.trials, args.concurrency)
                    runs.append(run)
                    print(f"pair {pair + 1} {run.way:<6} {run.trials} trials in {run.wall_s:6.1f} s "
                          f"({run.wall_s / run.trials:.2f} s a trial), best loss {run.best_loss:.4g}", flush=True)  # fmt: skip
    median = statistics.median
    direct = median([r.wall_s for r in runs if r.way == "direct"])
    kiln = median([r.wall_s for r in runs if r.way == "kiln"])
    per_trial = (kiln - direct) / args.trials
    kiln_runs = [r for r in runs if r.way == "kiln"]
    print(f"{args.trials} trials, {args.concurrency} at a time, {args.pairs} pairs; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"median wall: direct Optuna {direct:.1f} s, kiln sweep {kiln:.1f} s")
    print(f"kiln's overhead per trial: {per_trial:+.2f} s")
    outside = {way: median([outside_per_trial(r, args.concurrency) for r in runs if r.way == way])
               for way in ("direct", "kiln")}  # fmt: skip
    print(f"time outside the trials' processes, per trial: direct {outside['direct']:.2f} s, kiln {outside['kiln']:.2f} s:"
          f" kiln adds {outside['kiln'] - outside['direct']:+.2f} s a trial")  # fmt: skip
    for way in ("direct", "kiln"):
        times = [t for r in runs if r.way == way for t in r.process_s]
        print(f"  {way}: a trial's process, median {median(times):.2f} s")
    starts = [s for r in kiln_runs for s in r.to_start_s]
    gaps = [g for r in kiln_runs for g in r.gaps_s]
    if starts:
        print(f"  kiln: a trial's submit → its process started: median {median(starts):.2f} s")
    if gaps:
        print(f"  kiln: a trial's end → the next trial's submit (the sweep loop): median {median(gaps):.2f} s")
    print(f"target: under {TARGET_SECONDS} s a trial: {'met' if per_trial < TARGET_SECONDS else 'NOT met'}")
    if args.out:
        payload = {"runs": [asdict(r) for r in runs], "overhead_per_trial_s": per_trial, "outside_per_trial_s": outside}
        args.out.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
