"""What a job process is given: where to log, which run it is, and its inputs and outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kiln.integrations.tensorboard import LOG_DIR_VARIABLE
from kiln.runners.local import JobFolder
from kiln.specs.job import CommandJobSpec, literal_input_value
from kiln.store.tables import JobRow

ReferenceValues = dict[str, dict[str, str]]
JOB_SITE_DIR = Path(__file__).resolve().parent.parent / "runners" / "job_site"


def reference_values(spec: CommandJobSpec, folder: JobFolder, input_paths: dict[str, Path]) -> ReferenceValues:
    """What ``${{inputs.x}}`` and ``${{outputs.y}}`` stand for in this job's process."""
    values: ReferenceValues = {"inputs": {}, "outputs": {}}
    for name, item in spec.inputs.items():
        if name in input_paths:
            values["inputs"][name] = str(input_paths[name])
        else:
            value = literal_input_value(item)
            values["inputs"][name] = "" if value is None else literal_text(value)
    for name in spec.outputs:
        values["outputs"][name] = str(folder.outputs / name)
    return values


def literal_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def job_environment(
    spec: CommandJobSpec,
    values: ReferenceValues,
    *,
    bin_dir: Path,
    job_id: str,
    job_name: str,
    experiment_id: str,
    workspace_url: str,
    token: str,
    tensorboard_dir: Path | None = None,
) -> dict[str, str]:
    python_path = [str(JOB_SITE_DIR)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = {
        "PATH": str(bin_dir) + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(python_path),
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_TRACKING_URI": f"{workspace_url}/mlflow",
        # the server's own process points MLflow's registry at its loopback MLflow (mlflow.set_registry_uri
        # sets this variable): a job registers through /mlflow, with its token, like everything else
        "MLFLOW_REGISTRY_URI": f"{workspace_url}/mlflow",
        "MLFLOW_TRACKING_TOKEN": token,
        "MLFLOW_RUN_ID": job_id,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
        "KILN_URL": workspace_url,
        "KILN_TOKEN": token,
        "KILN_JOB_ID": job_id,
        "KILN_JOB_NAME": job_name,
    }
    if tensorboard_dir is not None:  # kept with the job when it ends (output 'logs')
        env[LOG_DIR_VARIABLE] = str(tensorboard_dir)
    # Azure ML exposes inputs and outputs the same way; scripts written for it keep working.
    env.update({f"AZURE_ML_INPUT_{name}": value for name, value in values["inputs"].items()})
    env.update({f"AZURE_ML_OUTPUT_{name}": value for name, value in values["outputs"].items()})
    env.update({key: literal_text(value) for key, value in spec.environment_variables.items()})
    return env


@dataclass
class PreparedEnvironment:
    """The interpreter a job runs with, and the exact packages it had (for reruns and lineage)."""

    bin_dir: Path
    record: dict[str, Any] = field(default_factory=dict)


class JobTokenIssuer(Protocol):
    """The token a job's process acts with (KILN_TOKEN, MLFLOW_TRACKING_TOKEN): one acting as the job's
    creator, from when it is prepared until it ends (``kiln.services.users.UserService``)."""

    def job_token(self, job: JobRow) -> str: ...

    def end_job_token(self, job: JobRow) -> None: ...


class EnvironmentResolver(Protocol):
    def pin(self, spec: CommandJobSpec) -> dict[str, Any]:
        """At submit: check ``spec.environment`` (InvalidSpec naming it if wrong); return an exact record."""
        ...

    def prepare(self, pinned: dict[str, Any], log: Path) -> PreparedEnvironment:
        """Before the job starts: build or reuse the environment, writing progress to ``log``."""
        ...
