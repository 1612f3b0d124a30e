"""A workspace server for a benchmark: its own KILN_HOME, on loopback, started and stopped by the bench.

sys.path.insert(0, str(BENCH))   # the bench/ folder
from workspace_server import BenchWorkspace
with BenchWorkspace(Path(tmp)) as workspace: ...workspace.url, workspace.token, workspace.env
with BenchWorkspace(Path(tmp), settings={"database_url": "postgresql://…", "local_concurrency": "4"}) as workspace: …
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

SRC = Path(__file__).resolve().parent.parent / "src"  # this checkout's kiln


class BenchWorkspace:
    def __init__(self, home: Path, start_timeout: float = 180, settings: dict[str, str] | None = None) -> None:
        self.home = home
        self.start_timeout = start_timeout
        self.settings = dict(settings or {})  # kiln settings for the server, as KILN_<NAME> variables
        self.url = ""
        self.token = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process (its CPU time is the gateway's and the control plane's)."""
        assert self._process is not None
        return self._process.pid

    @property
    def env(self) -> dict[str, str]:
        """The environment of a CLI or SDK call against this workspace."""
        return self._base_env() | {"KILN_URL": self.url, "KILN_TOKEN": self.token}

    def _base_env(self) -> dict[str, str]:
        """This process's variables, kiln's replaced by the workspace's, and this checkout's ``src`` first on the
        path: the server measured is this checkout's kiln, not the one the interpreter has installed."""
        kept = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "MLFLOW_"))}
        kept |= {f"KILN_{name.upper()}": value for name, value in self.settings.items()}
        kept["PYTHONPATH"] = os.pathsep.join([str(SRC), kept.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return kept | {"KILN_HOME": str(self.home), "MLFLOW_DISABLE_TELEMETRY": "true"}

    def __enter__(self) -> BenchWorkspace:
        # a bench stopped with SIGTERM unwinds like Ctrl-C, so its server (own session) is stopped too
        signal.signal(signal.SIGTERM, _exit_on_signal)
        log = (self.home / "server.out").open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "kiln", "server", "run", "--home", str(self.home)],
            stdout=log, stderr=subprocess.STDOUT, env=self._base_env(), start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self._process.poll() is None:
            info = self.home / "server.json"
            if info.exists():
                url = json.loads(info.read_text())["url"]
                try:
                    health = httpx.get(f"{url}/health", timeout=2).json()
                    if health.get("status") == "ok" and health.get("mlflow") != "starting":  # benches use MLflow
                        self.url, self.token = url, (self.home / "token").read_text().strip()
                        return self
                except (httpx.HTTPError, ValueError):
                    pass
            time.sleep(0.3)
        self.__exit__(None, None, None)
        raise SystemExit(f"the workspace server did not start; see {self.home / 'server.out'}")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def create_job_with_the_cli(client, job_file: Path, overrides: list[str], env: dict[str, str], timeout: float):  # type: ignore[no-untyped-def]
    """``kiln job create -f JOB_FILE OVERRIDES -o json`` run as a user runs it, then the job waited for (polled every
    50 ms) and its view returned; the bench exits with the CLI's error, or the job's end if it did not complete."""
    created = subprocess.run(
        [sys.executable, "-m", "kiln", "job", "create", "-f", str(job_file), *overrides, "-o", "json"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if created.returncode != 0:
        raise SystemExit(f"kiln job create -f {job_file} failed:\n{created.stderr}")
    view = client.jobs.get(json.loads(created.stdout)["name"]).wait(timeout=timeout, poll=0.05).view
    if view.status.value != "completed":
        raise SystemExit(f"kiln job {view.name} ended {view.status.value}: {view.failure_reason}")
    return view
