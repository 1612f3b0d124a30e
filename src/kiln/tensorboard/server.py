"""TensorBoard as a child process of the CLI: loopback only, one named group of runs per job,
stopped with its whole process group.

With TensorFlow installed, TensorBoard imports it at start (several seconds): callers wait with a
generous timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from kiln.errors import Conflict, KilnError, Unavailable
from kiln.processes import child_environment, die_with_parent, free_port, local_get, log_tail

HOST = "127.0.0.1"
DEFAULT_PORT = 6006
RELOAD_SECONDS = 5


def choose_port(port: int | None) -> int:
    """``port`` if it is free (Conflict if not); without one, 6006 if free, else any free port."""
    if port is None:
        return DEFAULT_PORT if _is_free(DEFAULT_PORT) else free_port(HOST)
    if not _is_free(port):
        raise Conflict(f"port {port} on {HOST} is in use; pick another with --port, or leave --port out for a free one")
    return port


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


class TensorBoardServer:
    """``python -m tensorboard.main --logdir_spec NAME:DIR,…`` on ``127.0.0.1:port``.

    Event files in subfolder SUB of a folder of ``groups`` become the run ``NAME/SUB``
    (those at its top, the run ``NAME/.``)."""

    def __init__(self, groups: Mapping[str, Path], port: int, log_file: Path) -> None:
        for name, folder in groups.items():
            if "," in f"{name}{folder}":
                raise KilnError(f"TensorBoard cannot read '{folder}': its path has a comma; choose another --folder")
        self.groups = dict(groups)
        self.port = port
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self, timeout: float = 180.0) -> TensorBoardServer:
        spec = ",".join(f"{name}:{folder.resolve()}" for name, folder in self.groups.items())
        command = [
            sys.executable, "-m", "tensorboard.main", "--logdir_spec", spec, "--host", HOST, "--port", str(self.port),
            "--load_fast", "false",  # the Python reader: one process, and it follows files that grow
            "--reload_multifile", "true", "--reload_interval", str(RELOAD_SECONDS),
        ]  # fmt: skip
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=child_environment({"TF_CPP_MIN_LOG_LEVEL": "2"}), start_new_session=True,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        try:
            self._wait_until_answering(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_running()
            answer = local_get(f"{self.url}data/runs", timeout=2)
            if answer is not None and answer[0] == 200:
                return
            time.sleep(0.3)
        raise Unavailable(f"TensorBoard did not answer within {timeout:.0f} s; see {self.log_file}")

    def check_running(self) -> None:
        """Unavailable (with the end of its log) if TensorBoard has exited."""
        if self._process is None or self._process.poll() is None:
            return
        tail = log_tail(self.log_file)
        if "already in use" in tail or "could not bind" in tail.lower():
            raise Conflict(f"port {self.port} on {HOST} is in use; pick another with --port")
        raise Unavailable(f"TensorBoard exited (code {self._process.returncode}):\n{tail}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to TensorBoard's process group, SIGKILL after ``grace`` seconds; nothing is left behind."""
        process, self._process = self._process, None
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # whatever it started and left

    def __enter__(self) -> TensorBoardServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
