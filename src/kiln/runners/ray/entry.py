"""The driver of a kiln job on a Ray cluster (standard library, plus ``ray`` for distributed jobs).

kiln copies this file into the job's working directory (``.kiln_ray/entry.py``, beside
``job.json`` and kiln's ``sitecustomize``) and submits ``python .kiln_ray/entry.py`` through
the Ray Jobs API. It does not import kiln: the cluster need not have kiln installed.

- No distribution, or ``distribution.type: ray``: the command runs as one process (the Ray
  job's driver; with ``type: ray`` it calls ``ray.init()`` and gets the cluster).
- ``distribution.type: pytorch``: M instances × N processes become M×N rank actors, placed
  by a placement group of M bundles of N CPUs (spread over the nodes where they fit); each
  actor runs the command with ``MASTER_ADDR``/``MASTER_PORT``/``RANK``/``WORLD_SIZE``/
  ``LOCAL_RANK`` as torchrun sets them, and this driver copies their output into the job's
  log, each line prefixed ``[rank i]``. When a rank fails, the others are stopped and the job
  fails with that rank's exit code and the end of its stderr.

Before the command starts, each input manifest in ``.kiln_inputs/`` that names a folder (``download_to``) is
downloaded there from its signed URLs, once per node (rank actors on other nodes download their own copy); the
job's named outputs are written inside the working directory (``.kiln_outputs/NAME``), whose folders the driver
makes (``folders`` in its configuration: Ray drops empty folders).

At the end the job's ``./outputs``, ``./logs`` and ``.kiln_outputs`` go back to the workspace: into the folder
kiln named (``return_dir``) when this node shares that folder with the workspace server
(kiln proves it with a key file only it wrote there), else as artifacts of the job's MLflow
run (``outputs``, ``logs``, ``.kiln_outputs``), where kiln picks them up when the job ends (the job's variable
``KILN_RAY_OUTPUTS_VIA=mlflow`` asks for that way even where the folder is shared).
"""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENTRY_FOLDER = ".kiln_ray"
CONFIG_NAME = "job.json"
SITE_DIR_NAME = "site"
INPUTS_FOLDER = ".kiln_inputs"  # kiln.jobs.input_manifest.MANIFEST_FOLDER
NODE_OUTPUTS = ".kiln_outputs"  # kiln.jobs.folders.NODE_OUTPUTS
HANDED_BACK = ("outputs", "logs", NODE_OUTPUTS)
# "mlflow": send ./outputs and ./logs as MLflow artifacts even where the workspace's folder is reachable
HAND_BACK_VARIABLE = "KILN_RAY_OUTPUTS_VIA"
POLL_SECONDS = 0.2
DOWNLOAD_TRIES = 3
DOWNLOAD_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 2.0
STDERR_TAIL_LINES = 30
PLACEMENT_WAIT_NOTICE_SECONDS = 15.0


def job_variables() -> dict[str, str]:
    """This process's variables with kiln's ``sitecustomize`` first on PYTHONPATH (it keeps MLflow on the job's run).

    The working directory is the job's copy of its code on this node, for the driver and for rank actors alike."""
    env = dict(os.environ)
    site = str(Path.cwd() / ENTRY_FOLDER / SITE_DIR_NAME)
    env["PYTHONPATH"] = site + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _die_with_parent() -> None:
    """preexec_fn: the command gets SIGKILL if the process that started it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def exit_status(code: int) -> int:
    """A shell's exit status for a Popen return code (killed by signal N: 128+N)."""
    return 128 - code if code < 0 else code


# One process ---------------------------------------------------------------------------------
def run_command(command: str) -> int:
    """Run the command with this process's output; a stop (SIGTERM to all of the job's processes) lets it end first."""
    signal.signal(signal.SIGTERM, lambda *_: None)  # a handler, not SIG_IGN: the command must not inherit it
    process = subprocess.Popen(["bash", "-c", command], env=job_variables(), stdin=subprocess.DEVNULL)
    return exit_status(process.wait())


# Ranks ---------------------------------------------------------------------------------------
class RankProcess:
    """One rank: the command in its own process group on this actor's node, its output kept for the driver."""

    def __init__(self, index: int) -> None:
        self.index = index
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: collections.deque[str] = collections.deque()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._readers: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"rank {self.index}"

    def address(self) -> tuple[str, int]:
        """Where rank 0 listens for the others: this node's address and a free port."""
        import ray

        with socket.socket() as sock:
            sock.bind(("", 0))
            port = int(sock.getsockname()[1])
        return str(ray.util.get_node_ip_address()), port  # type: ignore[no-untyped-call]

    def node_id(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def gpu_ids(self) -> list[str]:
        import ray

        return [str(gpu) for gpu in ray.get_gpu_ids()]

    def start(self, command: str, variables: dict[str, str]) -> None:
        """Start the command from a thread that lives as long as it does: the command's parent-death signal
        follows the thread that started it, so it fires only when this actor's process dies."""
        fetch_inputs(Path.cwd())  # on another node than the driver's: this node's copy of the working directory
        started: queue.Queue[BaseException | None] = queue.Queue()
        threading.Thread(target=self._own, args=(command, variables, started), daemon=True).start()
        problem = started.get()
        if problem is not None:
            raise problem

    def _own(self, command: str, variables: dict[str, str], started: queue.Queue[BaseException | None]) -> None:
        try:
            self._process = subprocess.Popen(
                ["bash", "-c", command], env={**job_variables(), **variables}, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        except OSError as exc:
            started.put(exc)
            return
        for stream, is_err in ((self._process.stdout, False), (self._process.stderr, True)):
            reader = threading.Thread(target=self._read, args=(stream, is_err), daemon=True)
            reader.start()
            self._readers.append(reader)
        started.put(None)
        self._process.wait()

    def _read(self, stream: Any, is_err: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            self._lines.append(line)
            if is_err:
                self._stderr_tail.append(line)

    def drain(self) -> tuple[list[str], int | None, str]:
        """The lines written since the last call; the exit status once the command has ended (and its output read)."""
        code = self._process.poll() if self._process else None
        if code is not None:
            for reader in self._readers:
                reader.join(timeout=5)
        lines = []
        while self._lines:
            lines.append(self._lines.popleft())
        return lines, (None if code is None else exit_status(code)), "\n".join(self._stderr_tail)

    def stop(self) -> None:
        """SIGTERM the rank's process group; SIGKILL what is left after a grace period."""
        if self._process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self._process.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while time.monotonic() < deadline and self._process.poll() is None:
                time.sleep(0.05)

    def hand_back(self, config: dict[str, Any]) -> None:
        os.environ.update(config.get("secret_variables", {}))  # the MLflow token, if it goes that way
        hand_back(config)


def rank_variables(rank: int, instance: int, local_rank: int, world: int, per_instance: int) -> dict[str, str]:
    """What tells one rank who it is, as torchrun sets it (MASTER_ADDR/MASTER_PORT are added once rank 0 is placed)."""
    variables = {
        "RANK": str(rank), "LOCAL_RANK": str(local_rank), "WORLD_SIZE": str(world),
        "LOCAL_WORLD_SIZE": str(per_instance), "NODE_RANK": str(instance), "GROUP_RANK": str(instance),
    }  # fmt: skip
    if "OMP_NUM_THREADS" not in os.environ:
        variables["OMP_NUM_THREADS"] = "1"  # as torchrun: N ranks of N threads each would oversubscribe the cores
    return variables


def run_ranks(config: dict[str, Any]) -> int:
    import ray
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    ranks = config["ranks"]
    instances, per_instance, gpus = int(ranks["instances"]), int(ranks["per_instance"]), float(ranks["gpus"])
    world = instances * per_instance
    ray.init(log_to_driver=False)  # the ranks' output comes through drain(), prefixed
    bundle: dict[str, float] = {"CPU": float(per_instance), **({"GPU": gpus} if gpus else {})}
    group = placement_group([bundle] * instances, strategy="SPREAD")
    _wait_for_placement(group, bundle, instances)
    actor_class: Any = ray.remote(RankProcess)
    actors: list[Any] = []
    for rank in range(world):
        instance = rank // per_instance
        strategy = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=instance)
        options = {"num_cpus": 1, "num_gpus": gpus / per_instance, "max_concurrency": 4}
        actors.append(actor_class.options(scheduling_strategy=strategy, **options).remote(rank))
    master_addr, master_port = ray.get(actors[0].address.remote())
    shared = {"MASTER_ADDR": master_addr, "MASTER_PORT": str(master_port)}
    gpu_ids = ray.get([actor.gpu_ids.remote() for actor in actors]) if gpus else []
    starts = []
    for rank, actor in enumerate(actors):
        instance, local_rank = divmod(rank, per_instance)
        variables = {**config.get("secret_variables", {}), **shared}
        variables.update(rank_variables(rank, instance, local_rank, world, per_instance))
        if gpus:  # as torchrun: every rank of an instance sees all of its GPUs and takes cuda:LOCAL_RANK
            same = gpu_ids[instance * per_instance : (instance + 1) * per_instance]
            variables["CUDA_VISIBLE_DEVICES"] = ",".join(dict.fromkeys(g for ids in same for g in ids))
        starts.append(actor.start.remote(config["command"], variables))
    ray.get(starts)
    print(f"kiln: {world} ranks started ({instances} × {per_instance}); rank 0 listens on {master_addr}:{master_port}")
    code = _follow_ranks(actors)
    # ranks on other nodes than this driver hand back what they wrote there (this node's: main())
    here = ray.get_runtime_context().get_node_id()
    nodes = ray.get([actor.node_id.remote() for actor in actors])
    elsewhere = [actors[index] for index, node in enumerate(nodes) if node != here]
    ray.get([actor.hand_back.remote(config) for actor in elsewhere])
    return code


def _wait_for_placement(group: Any, bundle: dict[str, float], instances: int) -> None:
    waited = 0.0
    while not _ready(group, PLACEMENT_WAIT_NOTICE_SECONDS):
        waited += PLACEMENT_WAIT_NOTICE_SECONDS
        print(
            f"kiln: waiting {waited:.0f} s for the cluster to have {instances} × {bundle} free "
            "(resources.instance_count × distribution.process_count_per_instance CPUs)",
            flush=True,
        )


def _ready(group: Any, timeout: float) -> bool:
    import ray

    ready, _ = ray.wait([group.ready()], timeout=timeout)
    return bool(ready)


def _follow_ranks(actors: list[Any]) -> int:
    """Copy every rank's output to this log until all have ended; stop the others once one fails."""
    import ray

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    codes: dict[int, int] = {}
    tails: dict[int, str] = {}
    failed: list[int] = []
    stopped = False
    while len(codes) < len(actors):
        for rank, (lines, code, tail) in enumerate(ray.get([actor.drain.remote() for actor in actors])):
            for line in lines:
                print(f"[rank {rank}] {line}", flush=True)
            if code is not None and rank not in codes:
                codes[rank], tails[rank] = code, tail
                if code != 0:
                    failed.append(rank)
        if (failed or stopping.is_set()) and not stopped:
            stopped = True
            ray.get([actor.stop.remote() for rank, actor in enumerate(actors) if rank not in codes])
        time.sleep(POLL_SECONDS)
    if not failed:
        return 0
    rank = failed[0]  # the others failed because they were stopped
    print(
        f"kiln: rank {rank} of the command ({len(actors)} processes) exited with code {codes[rank]}; "
        f"the other ranks were stopped; the end of its stderr:\n{tails[rank]}",
        file=sys.stderr,
        flush=True,
    )
    return codes[rank] or 1


# Inputs from signed URLs --------------------------------------------------------------------
class InputDownloadFailed(Exception):
    """An input's file could not be downloaded (the message names the input and the file, never the URL)."""


def fetch_inputs(here: Path) -> None:
    """Every input manifest that names a folder (``download_to``): its files downloaded there, once on this node
    (a lock keeps the ranks that share this working directory from downloading it twice)."""
    folder = here / INPUTS_FOLDER
    manifests = [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    wanted = [manifest for manifest in manifests if manifest.get("download_to")]
    if not wanted:
        return
    import fcntl

    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for manifest in wanted:
            target = inside(here, manifest["download_to"])
            if not target.exists():
                download_input(manifest, target)


def download_input(manifest: dict[str, Any], target: Path) -> None:
    """The manifest's files into ``target``, which appears only once all of them are there."""
    partial = target.with_name(f"{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    total = 0
    for item in manifest["files"]:
        total += download_file(manifest["input"], item, inside(partial, item["name"]))
    partial.rename(target)
    count = len(manifest["files"])
    print(f"kiln: input '{manifest['input']}' downloaded ({count} file{'s' * (count != 1)}, {total} bytes)", flush=True)


def download_file(input_name: str, item: dict[str, Any], destination: Path) -> int:
    """One file from its signed URL (tried again after a connection error or a server error); its size."""
    import urllib.error
    import urllib.request

    destination.parent.mkdir(parents=True, exist_ok=True)
    what = f"input '{input_name}': file '{item['name']}'"
    problem = ""
    for attempt in range(DOWNLOAD_TRIES):
        try:
            with urllib.request.urlopen(item["url"], timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
                with destination.open("wb") as handle:
                    shutil.copyfileobj(response, handle, 1 << 20)
            size = destination.stat().st_size
            if size == int(item["size"]):
                return size
            problem = f"{size} bytes arrived of {item['size']}"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}: {_error_message(exc)}"
            if exc.code < 500:
                break
        except (urllib.error.URLError, OSError) as exc:
            problem = str(getattr(exc, "reason", exc))
        time.sleep(attempt + 1)
    raise InputDownloadFailed(f"{what} could not be downloaded from its signed URL ({problem})")


def _error_message(exc: Any) -> str:
    """The workspace's own message from an error answer (kiln's JSON error), else the HTTP reason."""
    try:
        return str(json.loads(exc.read(4096))["error"]["message"])
    except Exception:
        return str(exc.reason)


def inside(base: Path, relative: str) -> Path:
    """``base/relative``, refused when ``relative`` would lead out of ``base``."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or ".." in parts or "\\" in relative:
        raise InputDownloadFailed(f"the input manifest names a path outside the job's folder: {relative!r}")
    return base.joinpath(*parts)


# Outputs back to the workspace ---------------------------------------------------------------
def shares_folder_with_workspace(config: dict[str, Any]) -> bool:
    """True when the folder kiln named is the workspace's own (kiln wrote a key there that only this job knows)."""
    try:
        return bool(Path(config["return_key_file"]).read_text().strip() == config["return_key"])
    except (OSError, KeyError):
        return False


def hand_back(config: dict[str, Any], cwd: Path | None = None) -> None:
    """``./outputs``, ``./logs`` and the named outputs of this node's working directory, back to the workspace."""
    here = cwd or Path.cwd()
    produced = [name for name in HANDED_BACK if (here / name).is_dir() and any((here / name).rglob("*"))]
    if not produced:
        return
    if os.environ.get(HAND_BACK_VARIABLE) != "mlflow" and shares_folder_with_workspace(config):
        for name in produced:
            shutil.copytree(here / name, Path(config["return_dir"]) / name, dirs_exist_ok=True)
        return
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        print(
            "kiln: ./outputs, ./logs and named outputs cannot go back to the workspace: this node does not share its folder and "
            "has no mlflow to upload them with (add mlflow to the job's environment)",
            file=sys.stderr,
        )
        return
    client = MlflowClient()
    for name in produced:
        client.log_artifacts(os.environ["MLFLOW_RUN_ID"], str(here / name), name)
    print(
        f"kiln: {' and '.join('./' + name for name in produced)} sent to the workspace as MLflow artifacts", flush=True
    )


def read_config() -> dict[str, Any]:
    return dict(json.loads((HERE / CONFIG_NAME).read_text()))


def main() -> int:
    config = read_config()
    # the job's tokens: kept out of Ray's runtime_env, which anyone who can read the dashboard sees
    os.environ.update(config.get("secret_variables", {}))
    for folder in config.get("folders", ["outputs"]):  # there when the command starts, as on Azure ML
        (Path.cwd() / folder).mkdir(parents=True, exist_ok=True)  # (Ray drops empty folders)
    try:
        fetch_inputs(Path.cwd())
    except InputDownloadFailed as exc:
        print(f"kiln: {exc}; the command did not start", file=sys.stderr, flush=True)
        return 1
    code = run_ranks(config) if config.get("ranks") else run_command(config["command"])
    try:
        hand_back(config)
    except Exception as exc:  # the job's outcome stands; say why its files did not come back
        print(f"kiln: could not hand ./outputs and ./logs back to the workspace: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
