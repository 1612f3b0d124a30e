"""Running the workspace server: in the foreground, or in the background on first use.

``server.json`` in KILN_HOME says where a running server listens; the CLI and SDK read it
to find (or start) the embedded local workspace.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kiln.config import Settings
from kiln.errors import Unavailable
from kiln.processes import child_environment, local_get, log_tail
from kiln.server.start_steps import StartSteps

START_TIMEOUT_SECONDS = 180.0
POLL_SECONDS = 0.05  # a started server is seen at once (each look is a read of server.json, then one /health)


@dataclass
class ServerInfo:
    url: str
    pid: int

    def is_up(self) -> bool:
        answer = local_get(f"{self.url}/health", timeout=3)  # no httpx: its client costs tens of ms to make
        try:
            return answer is not None and answer[0] == 200 and json.loads(answer[1]).get("status") == "ok"
        except ValueError:
            return False


def read_server_info(settings: Settings) -> ServerInfo | None:
    try:
        data = json.loads(settings.server_info_file.read_text())
        return ServerInfo(url=str(data["url"]), pid=int(data["pid"]))
    except (OSError, ValueError, KeyError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve_foreground(settings: Settings) -> None:
    """Run the server in this process until SIGINT/SIGTERM (``kiln server``).

    MLflow's child is launched as soon as the stores are open, before this process imports the rest of the
    server: it starts on one core while the server readies its own parts on another."""
    from kiln.server.stores import launch_mlflow, open_stores, refuse_unisolated_team

    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    run_lock = _hold_run_lock(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mlflow = None
    try:
        stores = open_stores(settings)  # a database that cannot be used is an error here, before serving
        refuse_unisolated_team(settings, stores)
        mlflow = launch_mlflow(settings, stores)
        sock = _listen(settings)
        port = sock.getsockname()[1]
        (home / "last_port").write_text(str(port))
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
        url = f"http://{host}:{port}"
        import uvicorn

        from kiln.server.app import create_app

        app = create_app(settings, url, on_ready=lambda: _announce(settings, url), stores=stores, mlflow=mlflow)
        config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if mlflow is not None:
            mlflow.stop()  # already stopped if the workspace opened and closed; not left behind if it did not
        current = read_server_info(settings)
        if current and current.pid == os.getpid():
            settings.server_info_file.unlink(missing_ok=True)
        run_lock.close()


def _hold_run_lock(settings: Settings) -> IO[str]:
    """One server per home: a second one would fight the first over MLflow and the jobs."""
    handle = open(settings.resolved_home / "server.run.lock", "w")  # held for the server's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        other = read_server_info(settings)
        where = f" (pid {other.pid}, {other.url})" if other else ""
        raise Unavailable(
            f"a workspace server is already running for {settings.resolved_home}{where}; "
            "use it, or stop it with 'kiln server stop'"
        ) from None
    return handle


def _listen(settings: Settings) -> socket.socket:
    """Bind the configured port; with none configured, the port of the last run if it is
    free (jobs that outlived a restart keep reaching the workspace), else any free port."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    candidates = [settings.port] if settings.port else [_last_port(settings), 0]
    for port in candidates:
        sock = socket.socket(family)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.host, port))
            return sock
        except OSError as exc:
            sock.close()
            if port == candidates[-1]:
                raise Unavailable(
                    f"cannot listen on {settings.host}:{port}: {exc.strerror}; choose another --port"
                ) from exc
    raise AssertionError("unreachable")


def _last_port(settings: Settings) -> int:
    try:
        return int((settings.resolved_home / "last_port").read_text())
    except (OSError, ValueError):
        return 0


def _announce(settings: Settings, url: str) -> None:
    _write_info(settings, url)
    print(f"kiln workspace at {url} (home {settings.resolved_home})", flush=True)


def _write_info(settings: Settings, url: str) -> None:
    tmp = settings.server_info_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "home": str(settings.resolved_home)}))
    tmp.replace(settings.server_info_file)


@contextmanager
def _start_lock(settings: Settings) -> Iterator[None]:
    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    with open(settings.resolved_home / "server.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def running_server(settings: Settings) -> ServerInfo | None:
    info = read_server_info(settings)
    if info and _pid_alive(info.pid) and info.is_up():
        return info
    return None


def ensure_server(settings: Settings, quiet: bool = True) -> ServerInfo:
    """The running local workspace, started in the background if it is not up."""
    info = running_server(settings)
    if info:
        return info
    with _start_lock(settings):
        info = running_server(settings)
        if info:
            return info
        return start_background(settings, quiet=quiet)


def start_background(settings: Settings, quiet: bool = True) -> ServerInfo:
    home = settings.resolved_home
    stale = read_server_info(settings)
    if stale and _pid_alive(stale.pid):
        _wait_for_health(stale, settings)
        return stale
    settings.server_info_file.unlink(missing_ok=True)
    if not quiet:
        print(f"starting the kiln workspace in {home} …", file=sys.stderr, flush=True)
    command = [sys.executable, "-m", "kiln", "server", "run", "--home", str(home)]
    if settings.port:
        command += ["--port", str(settings.port)]
    command += ["--host", settings.host]
    # stores given as flags reach the server through its environment: a password stays out of `ps`
    stores = {
        f"KILN_{name.upper()}": str(value)
        for name in ("database_url", "artifact_root", "mlflow_backend_store_uri", "s3_endpoint_url")
        if (value := getattr(settings, name))
    }
    steps = StartSteps(settings.server_log_file, _size(settings.server_log_file), _show_step)
    with settings.server_log_file.open("ab") as log, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(
            command, stdin=devnull, stdout=log, stderr=subprocess.STDOUT,
            env=child_environment({"KILN_HOME": str(home), **stores}), start_new_session=True,
        )  # fmt: skip
    (home / "server.pid").write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unavailable(
                f"the workspace server stopped at start (exit code {process.returncode}):\n{log_tail(settings.server_log_file)}"
            )
        if not quiet:
            steps.show_new()
        info = read_server_info(settings)
        if info and info.pid == process.pid and info.is_up():
            return info
        time.sleep(POLL_SECONDS)
    raise Unavailable(
        f"the workspace server did not start within {START_TIMEOUT_SECONDS:.0f}s; see {settings.server_log_file}"
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _show_step(step: str) -> None:
    print(f"  {step}", file=sys.stderr, flush=True)


def _wait_for_health(info: ServerInfo, settings: Settings) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if info.is_up():
            return
        time.sleep(POLL_SECONDS)
    raise Unavailable(f"the workspace server at {info.url} is not answering; see {settings.server_log_file}")


def stop_server(settings: Settings, timeout: float = 30.0) -> ServerInfo | None:
    """Stop the background server (jobs keep running and are re-adopted at the next start)."""
    info = read_server_info(settings)
    if info is None or not _pid_alive(info.pid):
        settings.server_info_file.unlink(missing_ok=True)
        return None
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(info.pid):
        time.sleep(0.1)
    if _pid_alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    settings.server_info_file.unlink(missing_ok=True)
    return info
