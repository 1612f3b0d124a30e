"""Where a job's files are: its scratch folder on the workspace server while it runs, its keys in the store after.

Standard library only (and kiln's light constants): the local job shim imports it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kiln.integrations.tensorboard import DEFAULT_LOG_DIR

LOG_NAME = "std_log.txt"  # the job's log (stdout and stderr), in its folder and in the store
DEFAULT_OUTPUT = "default"  # the output that holds the job's ./outputs
# a job on a node without the server's disk writes its named outputs here (relative to its working directory),
# handed back with ./outputs when it ends (kiln.runners.ray.entry), then placed in the job folder's outputs/
NODE_OUTPUTS = ".kiln_outputs"


def outputs_key(job_id: str) -> str:
    return f"jobs/{job_id}/outputs"


def output_key(job_id: str, output: str) -> str:
    return f"{outputs_key(job_id)}/{output}"


def node_output(name: str) -> str:
    """Where a job on a node without the server's disk writes named output ``name`` (relative to its working dir)."""
    return f"{NODE_OUTPUTS}/{name}"


def log_key(job_id: str) -> str:
    return f"jobs/{job_id}/logs/{LOG_NAME}"


def say(log: Path, *lines: str) -> None:
    """Append kiln's own lines to a job's log, each as ``kiln: LINE`` and on a line of its own (after a last line
    of the job's that did not end)."""
    with log.open("a+b") as handle:
        ended = handle.tell() == 0 or (handle.seek(-1, os.SEEK_END) >= 0 and handle.read(1) == b"\n")
        text = "".join(f"kiln: {line}\n" for line in lines)
        handle.write((text if ended else "\n" + text).encode())


@dataclass
class JobFolder:
    """The scratch folder of one job: working dir, inputs, outputs, log (and whatever its runner keeps there)."""

    root: Path

    @property
    def working_dir(self) -> Path:
        return self.root / "wd"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def log(self) -> Path:
        return self.root / LOG_NAME

    def say(self, *lines: str) -> None:
        """kiln's own lines in the job's log (:func:`say`)."""
        say(self.log, *lines)

    @property
    def outputs_dir(self) -> Path:
        """The job's ``./outputs``, there when its command starts (as on Azure ML), kept as output 'default'."""
        return self.working_dir / "outputs"

    @property
    def logs_dir(self) -> Path:
        """The job's ``./logs`` (TensorBoard's folder), kept with the job when it ends (output 'logs')."""
        return self.working_dir / DEFAULT_LOG_DIR

    @property
    def node_outputs(self) -> Path:
        """The named outputs written on a node without the server's disk, as they came back (``NODE_OUTPUTS``)."""
        return self.working_dir / NODE_OUTPUTS

    def place_node_outputs(self) -> None:
        """Named outputs handed back from a node: where those written on this disk are (``outputs/NAME``)."""
        if not self.node_outputs.is_dir():
            return
        for produced in sorted(self.node_outputs.iterdir()):
            if produced.is_symlink():  # links are not kept with outputs (kiln.jobs.closing)
                continue
            target = self.outputs / produced.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, onerror=_make_writable_and_retry)
            elif target.exists() or target.is_symlink():
                target.unlink()
            produced.replace(target)

    def create(self) -> None:
        for folder in (self.working_dir, self.inputs, self.outputs):
            folder.mkdir(parents=True, exist_ok=True)
        self.log.touch()

    def remove(self) -> None:
        shutil.rmtree(self.root, onerror=_make_writable_and_retry)


@dataclass(frozen=True)
class JobFolders:
    """The folder below which every job of this server has its scratch folder (``jobs_dir``)."""

    root: Path

    def of(self, job_id: str) -> JobFolder:
        return JobFolder(self.root / job_id)


def _make_writable_and_retry(function, path, _exc) -> None:  # type: ignore[no-untyped-def]
    """rmtree helper: a job may leave read-only files or folders behind."""
    try:
        os.chmod(path, 0o700)
        parent = os.path.dirname(path)
        os.chmod(parent, 0o700)
        function(path)
    except OSError:
        pass
