"""Job shims started ahead of their jobs: a job's start does not wait for the shim's interpreter and imports.

A local job's first process is the job shim (:mod:`kiln.runners.local.job_shim`). Started when the job starts, its
Python start and imports lie on the way from ``kiln job create`` to the job's first line (about a tenth of it on a
2-core machine: issue 13). So the runner keeps one shim started ahead, with its imports done, waiting on its stdin
for a job (``job_shim --spare``): a job takes it, tells it its arguments, working folder, variables and log in one
line of JSON, and a new spare is started a little later, off the job's critical path (the job's own start should not
share the cores with it). A spare runs in a session of its own, as a job's shim does, and the server's credentials
are not in its environment; it exits when its stdin closes (the server stopped) before a job came.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from kiln.processes import child_environment
from kiln.runners.local.sandbox import without_server_credentials

SHIM_MODULE = "kiln.runners.local.job_shim"
SPARE_FLAG = "--spare"
REFILL_DELAY_SECONDS = 1.0  # after a job took the spare: its own start goes first


class SpareShims:
    """Starts job shims, each from a spare started ahead where one is ready."""

    def __init__(self, python: str = sys.executable, refill_delay: float = REFILL_DELAY_SECONDS) -> None:
        self._python = python
        self._refill_delay = refill_delay
        self._lock = threading.Lock()
        self._spare: subprocess.Popen[bytes] | None = None
        self._closed = False

    def start(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """A shim running ``job_shim ARGS`` in ``cwd`` with exactly ``env``, its stderr appended to ``log``."""
        order = (json.dumps({"args": args, "cwd": str(cwd), "env": env, "log": str(log)}) + "\n").encode()
        with self._lock:
            spare, self._spare = self._spare, None
        for shim in (spare, None):  # a spare that died meanwhile: a new one, told at once
            shim = shim if shim is not None and shim.poll() is None else self._spawn()
            try:
                assert shim.stdin is not None
                shim.stdin.write(order)
                shim.stdin.close()
            except OSError:
                shim.kill()
                continue
            self._refill_later()
            return shim
        raise OSError("a job shim could not be started: it ended before it read its job")

    def close(self) -> None:
        """No more spares; the one waiting ends (its stdin closes)."""
        with self._lock:
            self._closed, spare, self._spare = True, self._spare, None
        if spare is not None:
            _end(spare)

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [self._python, "-m", SHIM_MODULE, SPARE_FLAG], cwd="/", env=without_server_credentials(child_environment()),
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def _refill_later(self) -> None:
        timer = threading.Timer(self._refill_delay, self._refill)
        timer.daemon = True
        timer.start()

    def _refill(self) -> None:
        with self._lock:
            if self._closed or self._spare is not None:
                return
            self._spare = self._spawn()


def _end(spare: subprocess.Popen[bytes]) -> None:
    try:
        if spare.stdin is not None:
            spare.stdin.close()
        spare.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        spare.kill()
