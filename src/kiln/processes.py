"""Helpers for the processes kiln starts: a quiet environment (telemetry off), parent-death
signals, free ports, and the tail of their logs."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
from pathlib import Path

QUIET_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "ORT_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
}


# Database URLs carry passwords: the server's children (jobs, replicas) do not inherit them;
# a child that needs one (MLflow's server) is handed it in ``extra``.
SECRET_VARIABLES = ("KILN_DATABASE_URL", "KILN_MLFLOW_BACKEND_STORE_URI", "MLFLOW_BACKEND_STORE_URI")


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES} | QUIET_ENVIRONMENT
    if extra:
        env.update(extra)
    return env


def die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGTERM this child when the thread that started it dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, for error messages about a process that stopped."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def local_get(url: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> tuple[int, bytes] | None:
    """``GET url`` of a process on this machine (plain HTTP): its status and body, None if it does not answer.

    For probes that run many times a second while a process starts: a plain connection, where an httpx
    client would first build an SSL context (tens of milliseconds of CPU each time)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
