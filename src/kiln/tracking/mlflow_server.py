"""MLflow's tracking server as a supervised child: loopback only, one worker, restarted if it dies.

It starts in the background (:meth:`MlflowSupervisor.launch`), beside the rest of the workspace
server's start-up: whatever needs MLflow waits for it (:meth:`MlflowSupervisor.wait_ready`, bounded),
nothing else does. Everyone reaches it through the workspace's ``/mlflow`` proxy; only the workspace itself
talks to it directly, with the secret the child gets on its standard input at each start
(``kiln.tracking.mlflow_secret``): the child (``kiln.tracking.mlflow_child``) refuses any request
without it, so the port in ``process.json`` is of no use to another process on the machine.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

from kiln.errors import Unavailable
from kiln.internal_secret import HEADER_NAME
from kiln.processes import child_environment, die_with_parent, free_port, local_get, log_tail
from kiln.tracking.mlflow_secret import process_secret

log = logging.getLogger(__name__)

MLFLOW_PREFIX = "/mlflow"
START_SECONDS = 120.0  # MLflow's child must answer within this, else it failed to start
WAIT_SECONDS = 30.0  # how long a request that needs MLflow waits for it to start before it is answered 503
STILL_STARTING = "MLflow's tracking server is still starting; try again in a moment"
HEALTH_POLL_SECONDS = 0.05  # a child that is up is seen at once (each probe costs about a millisecond)


class MlflowSupervisor:
    def __init__(
        self,
        home: Path,
        backend_store_uri: str,
        artifacts_destination: str,
        environment: Mapping[str, str] | None = None,
        announce: Callable[[str], None] = log.info,
    ) -> None:
        self._home = home / "mlflow"
        self.secret = process_secret()  # what the proxy and this process's MLflow client send
        self._store_uri = backend_store_uri
        self._artifacts = artifacts_destination
        self._environment = dict(environment or {})  # e.g. MLFLOW_S3_ENDPOINT_URL for an s3:// destination
        self._state_file = self._home / "process.json"
        self._log_file = self._home / "mlflow-server.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self.restarts = 0
        self._announce = announce  # the start's steps: "ready", or "failed to start"

    @property
    def url(self) -> str:
        """The loopback URL of MLflow, including the ``/mlflow`` prefix it serves under."""
        return f"http://127.0.0.1:{self.port}{MLFLOW_PREFIX}"

    def launch(self) -> None:
        """Start MLflow's child in the background; ``url`` is known at once, ``wait_ready`` says when it answers."""
        self._home.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.port = free_port()
        self._thread = threading.Thread(target=self._supervise, name="mlflow-supervisor", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float = WAIT_SECONDS) -> None:
        """Return once MLflow answers; Unavailable (503) if it is still starting after ``timeout`` seconds,
        or with why it failed to start."""
        if not self._ready.wait(timeout):
            raise Unavailable(STILL_STARTING)
        if self._error:
            raise Unavailable(self._error)

    @property
    def state(self) -> str:
        """``starting``, ``ready`` or ``failed`` (then ``wait_ready`` says why)."""
        if not self._ready.is_set():
            return "starting"
        return "failed" if self._error else "ready"

    def stop(self) -> None:
        self._stopping.set()
        if self._process and self._process.poll() is None:
            _end_group(self._process.pid, grace=10)
        if self._thread:
            self._thread.join(timeout=15)
        self._state_file.unlink(missing_ok=True)

    def is_healthy(self) -> bool:
        answer = local_get(f"{self.url}/health", headers={HEADER_NAME: self.secret})
        return answer is not None and answer[0] == 200

    # The supervising thread spawns every MLflow process, so that PR_SET_PDEATHSIG ties each
    # one to this long-lived thread rather than to a short-lived request thread.
    def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                self._process = self._spawn()
                self._wait_until_healthy(self._process)
                if not self._ready.is_set():
                    self._announce("MLflow tracking server: ready")
                self._ready.set()
            except Unavailable as exc:
                if self._stopping.is_set():
                    return
                # callers get where to look, not MLflow's log (it may name the store's URL); the log gets it all
                self._error = f"MLflow's tracking server failed to start; see {self._log_file} on the workspace server"
                self._ready.set()
                log.error("%s", exc)
                self._announce(f"MLflow tracking server: failed to start (see {self._log_file})")
                return
            self._process.wait()
            if self._stopping.is_set():
                return
            self.restarts += 1
            log.warning("MLflow's tracking server exited (code %s); restarting it", self._process.returncode)
            time.sleep(0.5)

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "kiln.tracking.mlflow_child",
            "--port", str(self.port),
            "--artifacts-destination", self._artifacts,
            "--static-prefix", MLFLOW_PREFIX,
        ]  # fmt: skip
        env = child_environment({
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONUNBUFFERED": "1",
            "MLFLOW_BACKEND_STORE_URI": self._store_uri,  # = --backend-store-uri, but no password in `ps`
            **self._environment,
        })  # fmt: skip
        log_handle = self._log_file.open("ab")
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=log_handle, stderr=subprocess.STDOUT, env=env, cwd=self._home,
            start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        log_handle.close()
        assert process.stdin is not None
        try:  # never in its arguments or environment, which other users' processes could read
            process.stdin.write(self.secret.encode() + b"\n")
            process.stdin.close()
        except BrokenPipeError:  # it died at once: _wait_until_healthy reports its log
            pass
        self._state_file.write_text(json.dumps({"pid": process.pid, "port": self.port}))
        return process

    def _wait_until_healthy(self, process: subprocess.Popen[bytes], timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stopping.is_set():
            if process.poll() is not None:
                tail = log_tail(self._log_file)
                raise Unavailable(f"MLflow's tracking server exited at start (code {process.returncode}):\n{tail}")
            if self.is_healthy():
                return
            time.sleep(HEALTH_POLL_SECONDS)
        if self._stopping.is_set():
            raise Unavailable("the workspace server is stopping")
        raise Unavailable(f"MLflow's tracking server did not answer within {timeout:.0f}s; see {self._log_file}")

    def _stop_leftover(self) -> None:
        """End an MLflow process group left behind by a workspace server that was killed."""
        try:
            state = json.loads(self._state_file.read_text())
            process = psutil.Process(int(state["pid"]))
            if "mlflow" in " ".join(process.cmdline()):
                _end_group(process.pid, grace=5)
        except (OSError, ValueError, KeyError, psutil.Error):
            pass


def _end_group(pgid: int, grace: float) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
