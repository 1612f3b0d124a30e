"""A job's side of preparation, the same on every target: its folder (code, inputs, output folders), what
``${{…}}`` stands for there, and the variables its process gets (its run, the workspace, a token acting as
its creator)."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kiln.artifacts.signed_urls import SignedUrls
from kiln.artifacts.store import ArtifactStore
from kiln.integrations.tensorboard import LOG_DIR_VARIABLE
from kiln.jobs.folders import JobFolder, node_output
from kiln.jobs.handler import ReferenceValues
from kiln.jobs.input_manifest import download_folder, url_lifetime, write_manifest
from kiln.jobs.inputs import JobInputs
from kiln.jobs.job import Job
from kiln.specs.job import ProcessJobSpec, literal_input_value
from kiln.store.tables import JobRow

JOB_SITE_DIR = Path(__file__).resolve().parent / "job_site"  # on every job's PYTHONPATH: its sitecustomize


class CodeSnapshots(Protocol):
    """Where an uploaded code folder is kept (``kiln.services.uploads.UploadService``)."""

    def resolve(self, reference: str, field: str) -> tuple[str, str]:
        """The store key and content hash behind ``upload:<hash>``; an error names ``field``."""
        ...


class JobTokenIssuer(Protocol):
    """The token a job's process acts with (KILN_TOKEN, MLFLOW_TRACKING_TOKEN): one acting as the job's
    creator, from when it is prepared until it ends (``kiln.services.users.UserService``)."""

    def job_token(self, job: JobRow) -> str: ...

    def end_job_token(self, job: JobRow) -> None: ...


@dataclass
class JobPreparation:
    code: CodeSnapshots
    store: ArtifactStore
    inputs: JobInputs
    workspace_url: str
    job_tokens: JobTokenIssuer  # never the workspace token: each job gets its own, revoked when it ends
    signed_urls: SignedUrls | None = None  # inputs read through signed URLs (kiln.jobs.input_manifest)

    def materialize(self, job: Job, shares_disk: bool = True, by_url: Collection[str] = ()) -> ReferenceValues:
        """The job's folder with its code, inputs and output folders; what ``${{…}}`` stands for there.

        For a target that does not share this server's disk (``shares_disk`` False: a Ray cluster's nodes), every
        input the store holds gets a manifest of signed URLs instead of a copy (kiln.jobs.input_manifest): those
        named in ``by_url`` (the kind's ``url_inputs``) are read from it by the job (``values["manifests"]`` names
        them), the others are downloaded by the job's driver into its working directory; named outputs are written
        inside the working directory (``NODE_OUTPUTS``). Every value is then relative to the working directory."""
        spec, folder = job.spec, job.folder
        folder.create()
        notice = compute_notice(spec, job.row.compute)
        if notice:
            folder.say(notice)
        if spec.code:
            key, _ = self.code.resolve(spec.code, "code")
            self.store.get(key, folder.working_dir)
        signed, manifests = ({}, {}) if shares_disk else self._signed_inputs(job, by_url)
        input_paths = self.inputs.materialize(spec, job.inputs, folder.inputs, skip=signed)
        for name in spec.folder_outputs():
            (folder.outputs if shares_disk else folder.node_outputs).joinpath(name).mkdir(parents=True, exist_ok=True)
        folder.outputs_dir.mkdir(parents=True, exist_ok=True)
        folder.logs_dir.mkdir(parents=True, exist_ok=True)
        values = reference_values(spec, folder, input_paths, shares_disk)
        values["inputs"].update(signed)
        if manifests:
            values["manifests"] = manifests
        return values

    def _signed_inputs(self, job: Job, by_url: Collection[str]) -> tuple[dict[str, str], dict[str, str]]:
        """For a node without this server's disk: each input the store holds, as a manifest of signed URLs (what
        ``${{inputs.NAME}}`` stands for, by name; and the manifests of ``by_url``); the rest are copied."""
        values: dict[str, str] = {}
        manifests: dict[str, str] = {}
        seconds = url_lifetime(job.spec.timeout_seconds)
        for name, item in sorted(job.spec.path_inputs().items()):
            pinned = job.inputs.get(name)
            if pinned is None:  # an optional input left out
                continue
            key = self.inputs.stored_key(job.spec, name, pinned)
            if key is None or self.signed_urls is None:
                job.folder.say(
                    f"input '{name}' is copied to the job's folder on the workspace server, not signed: only files "
                    "the artifact store holds (uploads, stored data assets, registered models) are read through "
                    "signed URLs; a node without the server's disk cannot read it"
                )
                continue
            streamed = name in by_url
            manifest = write_manifest(self.signed_urls, name, key, job.folder.working_dir, seconds, not streamed)
            if streamed:
                values[name] = manifests[name] = manifest.path
                job.folder.say(
                    f"input '{name}' is read through signed URLs ({manifest.path}, valid {seconds // 60} min); "
                    "its files are not copied to the job"
                )
                continue
            folder = download_folder(name)
            values[name] = f"{folder}/{manifest.names[0]}" if item.type == "uri_file" and manifest.names else folder
            job.folder.say(
                f"input '{name}' is downloaded from signed URLs ({manifest.path}, valid {seconds // 60} min) "
                f"into {folder} on the node, before the command starts"
            )
        return values, manifests

    def variables(self, job: Job, values: ReferenceValues, bin_dir: Path, logs_dir: Path) -> dict[str, str]:
        """The variables a job's process gets, with a token acting as its creator (revoked by ``end_token``)."""
        token = self.job_tokens.job_token(job.row)
        return job_environment(
            job.spec, values, bin_dir=bin_dir, job_id=job.id, job_name=job.name, experiment_id=job.row.experiment_id,
            workspace_url=self.workspace_url, token=token, tensorboard_dir=logs_dir,
        )  # fmt: skip

    def end_token(self, job: Job) -> None:
        """The job's processes are gone: nothing acts with its token any more."""
        self.job_tokens.end_job_token(job.row)


def compute_notice(spec: ProcessJobSpec, target: str) -> str | None:
    """The job log's first line when the job runs elsewhere than the compute its file names: an Azure name
    this workspace does not know, run on local compute (None when it runs where it says)."""
    if spec.compute_name == target:
        return None
    return (
        f"compute '{spec.compute}' is not a compute target of this workspace; running on '{target}' "
        f"compute instead ('kiln compute create --name {spec.compute_name} --type local' gives the name its own "
        "job limit)"
    )


def reference_values(
    spec: ProcessJobSpec, folder: JobFolder, input_paths: dict[str, Path], shares_disk: bool = True
) -> ReferenceValues:
    """What ``${{inputs.x}}`` and ``${{outputs.y}}`` stand for in this job's process (named outputs on a node
    without this server's disk: inside its working directory, relative to it)."""
    values: ReferenceValues = {"inputs": {}, "outputs": {}}
    for name, item in spec.inputs.items():
        if name in input_paths:
            values["inputs"][name] = str(input_paths[name])
        else:
            value = literal_input_value(item)
            values["inputs"][name] = "" if value is None else literal_text(value)
    for name in spec.outputs:
        values["outputs"][name] = str(folder.outputs / name) if shares_disk else node_output(name)
    return values


def literal_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def job_environment(
    spec: ProcessJobSpec,
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
