"""Local compute: each job is a process group on this machine, started through the job shim."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from kiln.processes import child_environment
from kiln.runners.job_shim import LOG_NAME, RESULT_NAME
from kiln.runners.read_only_mounts import ReadOnlyInputs


@dataclass
class JobFolder:
    """The local scratch folder of one job: working dir, inputs, outputs, log, result."""

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

    @property
    def result_file(self) -> Path:
        return self.root / RESULT_NAME

    def create(self) -> None:
        for folder in (self.working_dir, self.inputs, self.outputs):
            folder.mkdir(parents=True, exist_ok=True)
        self.log.touch()

    def read_result(self) -> dict[str, object] | None:
        try:
            return dict(json.loads(self.result_file.read_text()))
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        shutil.rmtree(self.root, onerror=_make_writable_and_retry)


@dataclass
class ProcessHandle:
    pid: int
    create_time: float
    popen: subprocess.Popen[bytes] | None = None

    def wait(self, timeout: float) -> int | None:
        """The exit code once the process has ended, else None after ``timeout`` seconds."""
        if self.popen is not None:
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        time.sleep(timeout)
        return None if is_alive(self.pid, self.create_time) else -1


def _make_writable_and_retry(function, path, _exc) -> None:  # type: ignore[no-untyped-def]
    """rmtree helper: a job may leave read-only files or folders behind."""
    try:
        os.chmod(path, 0o700)
        parent = os.path.dirname(path)
        os.chmod(parent, 0o700)
        function(path)
    except OSError:
        pass


def is_alive(pid: int, create_time: float | None) -> bool:
    try:
        process = psutil.Process(pid)
        if create_time is not None and abs(process.create_time() - create_time) > 0.01:
            return False
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


class LocalRunner:
    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir
        self.read_only_inputs = ReadOnlyInputs(jobs_dir)  # ro_mount inputs, applied at launch

    def folder(self, job_id: str) -> JobFolder:
        return JobFolder(self.jobs_dir / job_id)

    def launch(self, folder: JobFolder, command: str, env: dict[str, str], ranks: int | None = None) -> ProcessHandle:
        """Start the command through the shim; with ``ranks``, as that many processes of a distributed job."""
        read_only = self.read_only_inputs.command_prefix(folder.root, folder.log)  # [] without ro_mount inputs
        shim = [sys.executable, "-m", "kiln.runners.job_shim", str(folder.root)]
        shim += ["--ranks", str(ranks)] if ranks is not None else []
        shim += ["--", *read_only]
        shim += ["bash", "-c", command]
        with open(os.devnull, "rb") as devnull:
            popen = subprocess.Popen(
                shim, cwd=folder.working_dir, env=child_environment(env), stdin=devnull,
                stdout=subprocess.DEVNULL, stderr=folder.log.open("ab"), start_new_session=True,
            )  # fmt: skip
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            create_time = time.time()
        return ProcessHandle(popen.pid, create_time, popen)

    @staticmethod
    def adopt(pid: int, create_time: float | None) -> ProcessHandle | None:
        """A handle on a job process that an earlier server started, if it still runs."""
        if not is_alive(pid, create_time):
            return None
        return ProcessHandle(pid, create_time or 0.0)

    @staticmethod
    def terminate_tree(pid: int, grace: float) -> None:
        """SIGTERM the job's process group and every descendant; SIGKILL what is left after ``grace``."""
        victims = _tree(pid)
        _signal_all(pid, victims, signal.SIGTERM)

        def escalate() -> None:
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _alive(victims):
                time.sleep(0.1)
            _signal_all(pid, _alive(victims) + _tree(pid), signal.SIGKILL)

        threading.Thread(target=escalate, name=f"kill-{pid}", daemon=True).start()


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.Error:
            pass
    return alive


def _signal_all(pgid: int, processes: list[psutil.Process], sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for process in processes:
        try:
            process.send_signal(sig)
        except psutil.Error:
            pass
