"""Process groups that kiln starts and must find again after a restart: handles, liveness, ending a whole tree."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

import psutil


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


def is_alive(pid: int, create_time: float | None) -> bool:
    try:
        process = psutil.Process(pid)
        if create_time is not None and abs(process.create_time() - create_time) > 0.01:
            return False
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def adopt(pid: int, create_time: float | None) -> ProcessHandle | None:
    """A handle on a process that an earlier server started, if it still runs."""
    if not is_alive(pid, create_time):
        return None
    return ProcessHandle(pid, create_time or 0.0)


def terminate_tree(pid: int, grace: float) -> None:
    """SIGTERM the process group and every descendant; SIGKILL what is left after ``grace`` (in the background)."""
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
