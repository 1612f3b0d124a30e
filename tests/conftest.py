"""Fixtures: real workspace server processes on loopback, each with its own KILN_HOME.

A server's home starts with the databases a fresh start would create, copied from a template
migrated once per session (tests/workspace_home.py); ``WorkspaceServer(..., fresh=True)`` starts
from a truly empty home. Fixtures that start servers are made with ``server_fixture``: the tests
that use them are in the slow lane (tests/lanes.py); module time budgets are in tests/budgets.toml.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

pytest.register_assert_rewrite("tests.lanes", "tests.budgets")
pytest_plugins = ["tests.lanes", "tests.budgets"]  # lanes, xdist groups and module budgets: docs/testing.md

from tests.lanes import require_slow_lane, server_fixture  # noqa: E402
from tests.workspace_home import prepare_home  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@dataclass
class WorkspaceServer:
    """A ``kiln server`` process started by a test, and what a client needs to reach it."""

    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    token: str = ""
    logs: list[Path] = field(default_factory=list)
    fresh: bool = False  # True: an empty home, migrated by the server itself

    def start(self, timeout: float = 120) -> WorkspaceServer:
        require_slow_lane("a workspace server")
        if not self.fresh and "KILN_DATABASE_URL" not in self.env:
            prepare_home(self.home)  # SQLite: the template's migrated databases (not over an existing one)
        log = self.home / f"server-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kiln", "server", "run", "--home", str(self.home)],
                stdout=handle, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited early:\n{log.read_text()[-3000:]}"
            info = self.home / "server.json"
            if info.exists():
                data = json.loads(info.read_text())
                if data["pid"] == self.process.pid and _healthy(data["url"]):
                    self.url = data["url"]
                    self.token = (self.home / "token").read_text().strip()
                    return self
            time.sleep(0.2)
        raise AssertionError(f"server did not start in {timeout}s:\n{log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self, token: str | None = None):  # type: ignore[no-untyped-def]
        from kiln import Client

        return Client(url=self.url, token=token if token is not None else self.token)

    def cli(
        self, *args: str, check: bool = False, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "KILN_URL": self.url, "KILN_TOKEN": self.token, **(env or {})}
        result = subprocess.run(
            [sys.executable, "-m", "kiln", *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO
        )
        if check:
            assert result.returncode == 0, f"kiln {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def cli_process(self, *args: str) -> subprocess.Popen[str]:
        """``kiln ARGS`` in the background (``cli`` waits for its end), with its stdout and stderr as pipes."""
        env = {**self.env, "KILN_URL": self.url, "KILN_TOKEN": self.token}
        return subprocess.Popen(
            [sys.executable, "-m", "kiln", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env, cwd=REPO,
        )  # fmt: skip

    def mlflow_env(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": f"{self.url}/mlflow", "MLFLOW_TRACKING_TOKEN": self.token}


def _healthy(url: str) -> bool:
    """Up, with MLflow started (or failed to start): tests use it at once, as they did when a server's start
    waited for MLflow."""
    try:
        health = httpx.get(f"{url}/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    return health.get("status") == "ok" and health.get("mlflow") != "starting"


def server_env(home: Path, **settings: str) -> dict[str, str]:
    """A server's environment: this one without KILN_* and MLFLOW_* (kiln itself must quiet MLflow's
    telemetry), no GPUs unless ``gpus`` is given (the tests do not depend on the host's), then ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "MLFLOW_"))}
    env.update({"KILN_HOME": str(home), "KILN_GPUS": "", "PYTHONUNBUFFERED": "1"})
    env.update({f"KILN_{k.upper()}": v for k, v in settings.items()})
    return env


# For tests of scheduling (not of isolation) whose jobs write to a folder of the test's: no sandbox, which would
# hide that folder (tests/security/test_job_sandbox.py proves the sandbox); team servers allowed to start so.
UNSANDBOXED = {"job_sandbox": "/nonexistent/bwrap", "allow_unisolated_jobs": "true"}


def job_processes(home: Path, job_id: str) -> list[psutil.Process]:
    """A running local job's processes as this machine sees them (its shim, then all below it): inside the
    job's sandbox they have other pids (a PID namespace of their own)."""
    folder = str(home / "jobs" / job_id)
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = process.info.get("cmdline") or []
        # a shim started ahead (job_shim --spare) has moved into the job's working folder
        if "kiln.runners.local.job_shim" in cmdline and (folder in cmdline or _inside(process.info.get("cwd"), folder)):
            try:
                return [process, *process.children(recursive=True)]
            except psutil.Error:
                return []
    return []


def _inside(path: str | None, folder: str) -> bool:
    return path is not None and (path == folder or path.startswith(folder + os.sep))


def job_file(home: Path, job_id: str, name: str) -> Path:
    """A file in a running job's working folder (what the job sees as ``./name``), as a test may write it."""
    return home / "jobs" / job_id / "wd" / name


def cleanup_jobs(home: Path) -> None:
    """End any job process left behind by a test (they run in their own sessions)."""
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = process.info.get("cmdline") or []
        mine = any(str(home) in part for part in cmdline) or _inside(process.info.get("cwd"), str(home))
        if mine and "job_shim" in " ".join(cmdline):
            try:
                for child in process.children(recursive=True):
                    child.kill()
                process.kill()
            except psutil.Error:
                pass


def stop_replicas(home: Path) -> None:
    """End the replica processes of ``home``'s server left behind (they outlive a crashed server on purpose)."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if "kiln.serving.replica" in cmdline and str(home) in cmdline:
            try:
                process.kill()
            except psutil.Error:
                pass


@server_fixture
def make_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:  # type: ignore[type-arg]
    """Start dedicated servers: ``make_server(local_concurrency="3")``."""
    started: list[WorkspaceServer] = []

    def factory(**settings: str) -> WorkspaceServer:
        home = tmp_path_factory.mktemp("kiln-home")
        server = WorkspaceServer(home, server_env(home, **settings)).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
        cleanup_jobs(server.home)


@server_fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """One workspace server shared by the tests that do not restart or reconfigure it."""
    home = tmp_path_factory.mktemp("kiln-shared-home")
    server = WorkspaceServer(home, server_env(home, local_concurrency="4")).start()
    yield server
    server.stop()
    cleanup_jobs(home)


@pytest.fixture
def mlflow_client(workspace: WorkspaceServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The real mlflow client, pointed at the shared workspace's /mlflow."""
    from mlflow.tracking import MlflowClient

    for key, value in workspace.mlflow_env().items():
        monkeypatch.setenv(key, value)
    return MlflowClient(tracking_uri=f"{workspace.url}/mlflow")


def write_job(folder: Path, yaml_text: str, files: dict[str, str] | None = None) -> Path:
    """A job folder for a test: ``job.yml`` plus source files under ``src/``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in (files or {}).items():
        path = folder / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    job_file = folder / "job.yml"
    job_file.write_text(yaml_text)
    return job_file


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
