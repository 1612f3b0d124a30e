"""What a Ray compute target runs of a job spec, and how a job becomes a Ray Jobs API submission.

The job's folder on the workspace server (code snapshot, output folders) is the source of
Ray's ``runtime_env.working_dir``: kiln adds ``.kiln_ray/`` to it (the driver
:mod:`kiln.runners.ray.entry`, its ``job.json`` and kiln's ``sitecustomize``), and Ray uploads
the folder to the cluster. The environment's pip requirements become ``runtime_env.pip``
(Ray installs them on the cluster's Python); no environment: the cluster's Python as it is.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.jobs.preparation import JOB_SITE_DIR
from kiln.processes import QUIET_ENVIRONMENT
from kiln.runners.ray import entry as ray_entry
from kiln.specs.job import DISTRIBUTION_FIELDS, Problem, ProcessJobSpec
from kiln.specs.pins import BuiltEnvironmentPin, EnvironmentPin

SUPPORTED_DISTRIBUTIONS = ("ray", "pytorch")
ENTRY_FOLDER = ray_entry.ENTRY_FOLDER
ENTRYPOINT = f"python {ENTRY_FOLDER}/entry.py"
# the workspace server's own PATH and kiln's job_site path: meaningless on a cluster's nodes
SERVER_ONLY_VARIABLES = ("PATH", "PYTHONPATH")
# Ray shows a job's runtime_env to anyone who can read its dashboard: tokens travel in .kiln_ray/job.json instead
# (a job's own RAY_AUTH_TOKEN too, for a driver that joins another cluster; kiln never gives a job the token of
# the cluster it runs on: the cluster's own processes hand their drivers that, as RAY_AUTH_TOKEN_PATH or the like)
SECRET_VARIABLES = ("KILN_TOKEN", "MLFLOW_TRACKING_TOKEN", "RAY_AUTH_TOKEN")
RAY_VARIABLES = {**QUIET_ENVIRONMENT, "RAY_DEDUP_LOGS": "0"}  # dedup would merge the ranks' lines


def ray_problems(spec: ProcessJobSpec, compute: str) -> list[Problem]:
    """What in ``spec`` a Ray compute target cannot run, each with its field and how to fix it."""
    found: list[Problem] = []
    distribution = spec.distribution
    if distribution and distribution.type not in SUPPORTED_DISTRIBUTIONS:
        found.append(
            (
                ("distribution", "type"),
                f"'{distribution.type}' is not supported on Ray compute '{compute}' (supported: "
                f"{', '.join(SUPPORTED_DISTRIBUTIONS)}); use type: pytorch with process_count_per_instance, "
                "or type: ray for a driver that calls ray.init()",
            )
        )
    if distribution and distribution.type == "ray":
        for field in sorted(distribution.model_fields_set & set(DISTRIBUTION_FIELDS["ray"])):
            found.append(
                (
                    ("distribution", field),
                    f"the job runs on the existing Ray cluster '{compute}', which kiln does not start; "
                    f"leave {field} out (it configures a cluster started for the job)",
                )
            )
    instances = spec.resources.instance_count if spec.resources else 1
    if instances > 1 and not (distribution and distribution.type == "pytorch"):
        found.append(
            (
                ("resources", "instance_count"),
                f"{instances} instances asked for one process; use distribution: {{type: pytorch, "
                "process_count_per_instance: N}} to run instance_count × N ranks across the cluster, or "
                "distribution: {type: ray} and let the driver spread Ray tasks",
            )
        )
    for name, item in spec.path_inputs().items():
        if item.mode == "ro_mount":
            found.append(
                (
                    ("inputs", name, "mode"),
                    f"ro_mount is not available on Ray compute '{compute}' (the read-only mount is made in a "
                    "local job's own namespace); use mode: download",
                )
            )
    return found


@dataclass(frozen=True)
class RankPlan:
    """A PyTorch job on Ray: ``instances`` placement bundles of ``per_instance`` ranks, ``gpus`` per instance."""

    instances: int
    per_instance: int
    gpus: int

    def as_config(self) -> dict[str, int]:
        return {"instances": self.instances, "per_instance": self.per_instance, "gpus": self.gpus}


def rank_plan(spec: ProcessJobSpec) -> RankPlan | None:
    if not (spec.distribution and spec.distribution.type == "pytorch"):
        return None
    instances = spec.resources.instance_count if spec.resources else 1
    return RankPlan(instances, spec.distribution.process_count_per_instance or 1, spec.gpu_count)


def driver_resources(spec: ProcessJobSpec) -> tuple[float, float]:
    """CPUs and GPUs the Ray job's driver holds: a plain command holds one CPU (and its GPUs) while it runs;
    a ``type: ray`` driver holds none of the CPUs its tasks need; a PyTorch job's ranks hold theirs."""
    if spec.distribution is None:
        return 1.0, float(spec.gpu_count)
    if spec.distribution.type == "ray":
        return 0.0, float(spec.gpu_count)
    return 0.0, 0.0


def pip_packages(environment: EnvironmentPin) -> list[str]:
    """The pip requirements of a pinned environment (none for the server's interpreter: the cluster's Python)."""
    if not isinstance(environment, BuiltEnvironmentPin):
        return []
    return list(environment.requirements)


def runtime_env(working_dir: Path, variables: dict[str, str], packages: list[str]) -> dict[str, Any]:
    env_vars = {k: v for k, v in variables.items() if k not in SERVER_ONLY_VARIABLES + SECRET_VARIABLES}
    env_vars.update(RAY_VARIABLES)
    built: dict[str, Any] = {"working_dir": str(working_dir), "env_vars": env_vars}
    if packages:
        built["pip"] = {"packages": packages}
    return built


@dataclass(frozen=True)
class HandBack:
    """Where the driver returns ./outputs and ./logs when it shares the workspace's folder, and the key that proves it."""

    folder: Path
    key: str
    key_file: Path


def write_driver(
    working_dir: Path,
    command: str,
    variables: dict[str, str],
    plan: RankPlan | None,
    hand_back: HandBack,
    folders: list[str],
) -> None:
    """Put the driver, its configuration (with the job's tokens) and kiln's sitecustomize into ``working_dir/.kiln_ray``.
    ``folders`` (relative to the working directory) are made before the command starts: Ray drops empty folders."""
    target = working_dir / ENTRY_FOLDER
    site = target / ray_entry.SITE_DIR_NAME
    site.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ray_entry.__file__, target / "entry.py")
    shutil.copyfile(JOB_SITE_DIR / "sitecustomize.py", site / "sitecustomize.py")
    config = {
        "command": command,
        "ranks": plan.as_config() if plan else None,
        "folders": folders,
        "return_dir": str(hand_back.folder),
        "return_key": hand_back.key,
        "return_key_file": str(hand_back.key_file),
        "secret_variables": {k: v for k, v in variables.items() if k in SECRET_VARIABLES},
    }
    config_file = target / ray_entry.CONFIG_NAME
    config_file.touch(mode=0o600)
    config_file.write_text(json.dumps(config, indent=2))
