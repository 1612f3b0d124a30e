"""A real one-node Ray cluster for tests: ``ray start --head`` on loopback, stopped with every process it started.

Start it only inside a loopback-only network namespace (DESIGN.md §8): the test command runs
``unshare -n sh -c 'ip link set lo up && pytest …'``. Usage stats are off, the dashboard
listens on 127.0.0.1, no TPUs (or GPUs) are declared, and the cluster gets a temp folder of
its own, so that its processes are told from any other Ray on the machine: at the end they,
and only they, are stopped by pid (``ray stop`` would stop every Ray cluster of the user).

Token authentication is off unless asked for (``start_ray_head(token_auth=True)``): then the head runs with
``RAY_AUTH_MODE=token`` and a token generated for it, in a 0600 file of its temp folder
(``RAY_AUTH_TOKEN_PATH``: the cluster's processes, job drivers among them, are handed the file's path, not the
token), and every request to its dashboard needs ``Authorization: Bearer <token>`` (``RayHead.headers``).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from kiln.processes import free_port
from tests.lanes import require_slow_lane

START_TIMEOUT_SECONDS = 180
STOP_GRACE_SECONDS = 10
OBJECT_STORE_BYTES = 100_000_000  # Ray's default is 30 % of the RAM; tests need little
TOKEN_FILE_NAME = "auth_token"


@dataclass
class RayHead:
    temp_dir: Path
    gcs_port: int
    dashboard_port: int
    env: dict[str, str]
    log: Path
    token: str | None = None  # the cluster's token when its token authentication is on
    pids: set[int] = field(default_factory=set)

    @property
    def token_file(self) -> Path:
        """Where the cluster's token is (0600): what ``kiln compute create --token-file`` names."""
        return self.temp_dir / TOKEN_FILE_NAME

    @property
    def headers(self) -> dict[str, str]:
        """What a request to the dashboard carries: the token, when the cluster asks for one."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def address(self) -> str:
        """The dashboard (Jobs API) URL, as ``kiln compute create --address`` takes it."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def processes(self) -> list[psutil.Process]:
        """This cluster's processes: those naming its temp folder or GCS address, those working in its temp
        folder (job drivers), and everything they started."""
        marks = (str(self.temp_dir), f"127.0.0.1:{self.gcs_port}")
        found: dict[int, psutil.Process] = {}
        for process in psutil.process_iter(["cmdline", "cwd"]):
            cmdline = " ".join(process.info.get("cmdline") or [])
            cwd = process.info.get("cwd") or ""
            if process.pid in self.pids or any(mark in cmdline for mark in marks) or cwd.startswith(str(self.temp_dir)):
                found[process.pid] = process
        for process in list(found.values()):
            try:
                found.update({child.pid: child for child in process.children(recursive=True)})
            except psutil.Error:
                pass
        found.pop(os.getpid(), None)
        return list(found.values())


def start_ray_head(num_cpus: int = 2, *, token_auth: bool = False) -> RayHead:
    """A head node with ``num_cpus`` CPUs; with ``token_auth``, one that refuses requests without its token."""
    require_slow_lane("a Ray cluster")
    # a short path: Ray's unix sockets live below it, and socket paths are limited to ~107 bytes
    temp_dir = Path(tempfile.mkdtemp(prefix="kray-", dir="/tmp"))
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "MLFLOW_", "RAY_"))}
    # `python` in a job's entrypoint is this interpreter, as it would be in an activated venv. RAY_AUTH_MODE said
    # outright: Ray 2.60 turns token auth on for `ray start` whenever ~/.ray/auth_token exists (any `ray.init` run by
    # hand on the machine writes one), and its APIs then answer 401 to a client without that token
    env.update(PATH=bin_dir + os.pathsep + env.get("PATH", ""), RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    head = RayHead(temp_dir, free_port(), free_port(), env, temp_dir / "ray-start.log")
    if token_auth:  # a token of Ray's own form (its `ray get-auth-token --generate`: 64 hex digits)
        head.token = secrets.token_hex(32)
        head.token_file.touch(mode=0o600)
        head.token_file.write_text(head.token)
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(head.token_file))
    command = [
        str(Path(bin_dir) / "ray"), "start", "--head", f"--port={head.gcs_port}", "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={head.dashboard_port}", "--include-dashboard=true",
        f"--dashboard-agent-listen-port={free_port()}", f"--ray-client-server-port={free_port()}",
        f"--num-cpus={num_cpus}", "--num-gpus=0", "--resources={}", f"--object-store-memory={OBJECT_STORE_BYTES}",
        "--disable-usage-stats", f"--temp-dir={temp_dir}",
    ]  # fmt: skip
    with head.log.open("wb") as log:
        started = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=START_TIMEOUT_SECONDS)
    head.pids = {process.pid for process in head.processes()}
    if started.returncode != 0:
        stop_ray_head(head)
        raise AssertionError(f"ray start failed:\n{head.log.read_text()[-3000:]}")
    try:
        _wait_for_job_api(head)
    except AssertionError:
        stop_ray_head(head)
        raise
    head.pids = {process.pid for process in head.processes()}
    return head


def _wait_for_job_api(head: RayHead) -> None:
    """The Jobs API answers and the head node is alive (job submission needs its agent)."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    last = ""
    while time.monotonic() < deadline:
        last = ""
        try:
            jobs = httpx.get(f"{head.address}/api/jobs/", headers=head.headers, timeout=5)
            answer = httpx.get(f"{head.address}/api/v0/nodes", headers=head.headers, timeout=5)
            last = f"jobs API {jobs.status_code}, nodes API {answer.status_code}: {answer.text[:200]!r}"
            nodes = answer.json()
            alive = [n for n in nodes["data"]["result"]["result"] if n.get("state") == "ALIVE"]
            if jobs.status_code == 200 and alive:
                return
            last = f"jobs API {jobs.status_code}, {len(alive)} node(s) alive"
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            last = f"{last} ({type(exc).__name__}: {exc})"
        time.sleep(1)
    raise AssertionError(
        f"Ray's job API did not come up in {START_TIMEOUT_SECONDS} s ({last}); dashboard log:\n{_dashboard_log(head)}"
    )


def _dashboard_log(head: RayHead) -> str:
    logs = sorted(head.temp_dir.glob("session_*/logs/dashboard.log"))
    return logs[-1].read_text(errors="replace")[-2000:] if logs else "(none written)"


def stop_ray_head(head: RayHead) -> None:
    """SIGTERM this cluster's processes, SIGKILL what is left, and check that nothing of it is left."""
    victims = head.processes()
    for process in victims:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(victims, timeout=STOP_GRACE_SECONDS)
    for process in alive + head.processes():
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=STOP_GRACE_SECONDS)
    left = [process for process in head.processes() if _running(process)]
    assert not left, f"Ray processes left behind: {[(p.pid, p.info.get('cmdline')) for p in left]}"
    subprocess.run(["rm", "-rf", str(head.temp_dir)], check=False)


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class SubmissionGate:
    """A loopback TCP forwarder in front of a Ray dashboard that, while ``holding`` is set, takes in the Jobs
    API's submissions (``POST /api/jobs/``) and answers nothing: a submission that never reaches the cluster.
    Every other request passes through. ``release`` stops holding and drops what it held."""

    def __init__(self, dashboard_port: int) -> None:
        self._target = dashboard_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.holding = threading.Event()
        self.held = threading.Event()  # a submission has been taken in and left unanswered
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, name="ray-gate", daemon=True).start()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        first = client.recv(65536)
        if self.holding.is_set() and first.startswith(b"POST /api/jobs/"):
            self._held.append(client)
            self.held.set()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self._target))
        except OSError:
            client.close()
            return
        upstream.sendall(first)
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)

    def release(self) -> None:
        self.holding.clear()
        for held in self._held:
            held.close()
        self._held.clear()

    def close(self) -> None:
        self.release()
        self._listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
