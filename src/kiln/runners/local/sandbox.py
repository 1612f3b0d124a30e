"""Sandboxed jobs on local compute: a job's processes see their own folder, their inputs, their environment and
the Python they run, and nothing else of ``KILN_HOME``, through bubblewrap (``bwrap``).

The job's command runs as ``bwrap … -- COMMAND`` below the job shim (the shim, kiln's own code, stays outside:
it holds the log and writes ``result.json``). What the sandbox shows:

- the whole machine read-only (``--ro-bind / /``): the server's installation, its venv and every job
  environment cannot be changed by a job (``pip install`` fails with EROFS);
- ``KILN_HOME`` replaced by an empty folder, and ``/tmp`` by a private one: no token, no keys, no databases,
  no other jobs' folders, no server log; what the job needs of it is bound back: its own folder (its root
  read-only, ``wd``, ``inputs``, ``outputs``, ``tmp`` and ``home`` writable), its environment's venv
  (read-only) and its ``ro_mount`` inputs (read-only);
- its own PID namespace (with its own ``/proc``: the server's processes are not there) and IPC namespace;
- when the server runs as root, a separate unprivileged uid (``job_sandbox_uid``, default 65534) through
  ``setpriv`` (no capabilities, no new privileges); otherwise its own user namespace as the server's user.
  Folders that uid cannot pass through (``/root`` is 0700) are replaced by empty ones, with what the job
  needs bound back.

The network is shared: a job reaches the workspace server with its own token, and internal services refuse
it (they check a secret a job cannot read). bubblewrap was chosen over ``unshare`` + ``setpriv`` because it
states the view declaratively (read-only binds are recursive, parent folders of binds are made for it) and
checks each step, where ``unshare`` needs a shell script of ``mount`` calls. Where no sandbox can be made (no
bwrap, no namespaces), jobs run as before, each with one line in its log, and a team server refuses to start
unless ``allow_unisolated_jobs`` is set. Ray compute is not sandboxed by kiln (Ray runs the job).
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kiln.environments.overlay import JOB_OVERLAY_FOLDER

DEFAULT_TOOL = "bwrap"
NOT_ISOLATED = "not isolated"
NOBODY = 65534
TRY_SECONDS = 20
# bwrap's outer process dies on SIGTERM at once: it ignores TERM and INT (a cancel then waits for the job's
# own processes) and the job's command gets the default handling back.
IGNORE_STOP_SIGNALS = ["env", "--ignore-signal=TERM,INT"]
DEFAULT_STOP_SIGNALS = ["env", "--default-signal=TERM,INT"]
# below a job's folder; its root (log, result) is not. The overlay venv of a job on the server's Python is
# writable so that the job's `pip install` lands there (kiln.environments.overlay)
WRITABLE = ("wd", "inputs", "outputs", "tmp", "home", JOB_OVERLAY_FOLDER)
DEVICE_GLOBS = ("nvidia*", "dri")  # GPUs stay usable
# Variables of the server that a job never inherits (its own ``environment_variables`` still apply).
CREDENTIAL_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "_KEY")


@dataclass(frozen=True)
class SandboxView:
    """What one job's sandbox shows beside the read-only machine."""

    job_root: Path
    readable: tuple[Path, ...] = ()  # its environment, the interpreter, kiln's code: bound back read-only if hidden
    read_only_mounts: tuple[tuple[Path, Path], ...] = ()  # (source, target below job_root)

    @property
    def working_dir(self) -> Path:
        return self.job_root / "wd"

    @property
    def writable(self) -> tuple[Path, ...]:
        return tuple(self.job_root / name for name in WRITABLE)


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""  # why not


@dataclass
class JobSandbox:
    """The sandbox local jobs run in, as the settings ask (``job_sandbox``, ``job_sandbox_uid``)."""

    home: Path
    tool: str = DEFAULT_TOOL
    uid: int = NOBODY
    as_root: bool = field(default_factory=lambda: os.geteuid() == 0)

    @property
    def tool_path(self) -> str | None:
        return shutil.which(self.tool)

    def availability(self) -> Availability:
        """Whether the sandbox works here: tried for real once per tool, uid and user."""
        return _try(self.tool_path, self.tool, self.uid if self.as_root else None)

    def isolation(self) -> str:
        """One line for ``kiln job show`` and the job's log."""
        found = self.availability()
        if not found.available:
            return f"{NOT_ISOLATED}: {found.reason}"
        if self.as_root:
            return f"sandboxed (bubblewrap, uid {self.uid}; own mount, PID and IPC namespaces)"
        return "sandboxed (bubblewrap; own user, mount, PID and IPC namespaces)"

    def command(self, view: SandboxView) -> list[str]:
        """What to run the job's command through (call only when available)."""
        tool = self.tool_path or self.tool
        return sandbox_command(
            tool, self.home, view, self.uid if self.as_root else None,
            traversable=lambda path: _traversable(path, self.uid), devices=_devices(),
        )  # fmt: skip

    def prepare_folder(self, view: SandboxView) -> None:
        """Make the job's writable folders, owned by the job's uid when that is not the server's."""
        view.job_root.chmod(0o755)  # the job may enter it, not change it (its log and result are the shim's)
        for folder in view.writable:
            folder.mkdir(parents=True, exist_ok=True)
            if self.as_root:
                _chown_tree(folder, self.uid)

    @staticmethod
    def environment(env: dict[str, str], view: SandboxView) -> dict[str, str]:
        """The job's variables inside the sandbox: its own home and temporary folder."""
        return {**env, "HOME": str(view.job_root / "home"), "TMPDIR": str(view.job_root / "tmp")}


def without_server_credentials(server_env: dict[str, str]) -> dict[str, str]:
    """The server's variables a job may inherit: none of its settings (``KILN_*``), none that hold a credential."""
    return {
        name: value
        for name, value in server_env.items()
        if not name.startswith("KILN_") and not any(marker in name.upper() for marker in CREDENTIAL_MARKERS)
    }


def sandbox_command(
    tool: str,
    home: Path,
    view: SandboxView,
    uid: int | None,
    *,
    traversable: Callable[[Path], bool] = lambda _path: True,
    devices: Iterable[Path] = (),
) -> list[str]:
    """The bwrap command line (up to and including what comes before the job's command)."""
    args = [*IGNORE_STOP_SIGNALS, tool, "--ro-bind", "/", "/", "--dev", "/dev"]
    for device in devices:
        args += ["--dev-bind", str(device), str(device)]
    args += ["--perms", "01777", "--tmpfs", "/dev/shm", "--proc", "/proc", "--perms", "01777", "--tmpfs", "/tmp"]
    needed = [view.job_root, *view.readable]
    hidden = _outermost([Path("/tmp"), home, *(_blocking_folders(needed, traversable) if uid is not None else [])])
    for folder in hidden:
        if folder != Path("/tmp"):
            args += ["--tmpfs", str(folder)]
    bound = [
        path for path in sorted(set(view.readable), key=lambda p: len(p.parts))
        if _below_any(path, hidden) and not home.is_relative_to(path) and not path.is_relative_to(view.job_root)
    ]  # fmt: skip
    made: set[Path] = set()
    for path in [*bound, view.job_root]:
        # bwrap would make the folders above a bind 0700 (as root): the job's uid must pass through them
        for parent in reversed(path.parents):
            if parent not in made and _below_any(parent, hidden) and parent not in hidden:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        if path != view.job_root:
            args += ["--ro-bind", str(path), str(path)]
    args += ["--ro-bind", str(view.job_root), str(view.job_root)]
    for folder in view.writable:
        args += ["--bind", str(folder), str(folder)]
    for source, target in view.read_only_mounts:
        args += ["--ro-bind", str(source), str(target)]
    args += ["--chdir", str(view.working_dir), "--unshare-pid", "--unshare-ipc"]
    if uid is None:
        return [*args, "--unshare-user", "--", *DEFAULT_STOP_SIGNALS]
    drop = ["--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    return [*args, "--", *DEFAULT_STOP_SIGNALS, _which("setpriv"), *drop, "--no-new-privs", "--"]


def readable_paths(bin_dir: Path, python_path: str) -> tuple[Path, ...]:
    """What a job reads beside its folder: its environment (the venv around ``bin_dir``), the interpreter behind
    it, this Python and kiln's code, and ``PYTHONPATH``."""
    paths = [bin_dir.parent, Path(sys.prefix), Path(sys.base_prefix), Path(__file__).resolve().parents[3]]
    for name in ("python", "python3"):
        interpreter = bin_dir / name
        if interpreter.exists():
            paths.append(interpreter.resolve().parent.parent)
            break
    paths += [Path(entry) for entry in python_path.split(os.pathsep) if entry]
    return tuple(dict.fromkeys(path for path in paths if path.is_absolute() and path.exists()))


@functools.lru_cache(maxsize=8)
def _try(tool_path: str | None, tool: str, uid: int | None) -> Availability:
    if tool_path is None:
        if os.sep in tool:
            return Availability(False, f"the sandbox tool {tool} (setting job_sandbox) does not exist")
        return Availability(False, f"bubblewrap is not installed ('{tool}' is not on PATH; apt-get install bubblewrap)")
    args = [*IGNORE_STOP_SIGNALS, tool_path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--unshare-pid", "--unshare-ipc"]
    if uid is None:
        args += ["--unshare-user", "--", "true"]
    else:
        args += ["--", _which("setpriv"), "--reuid", str(uid), "--regid", str(uid), "--clear-groups"]
        args += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", "true"]
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=TRY_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Availability(False, f"trying bubblewrap failed: {exc}")
    if result.returncode != 0:
        said = " ".join(result.stderr.split())[:300] or f"exit code {result.returncode}"
        return Availability(False, f"bubblewrap cannot make a sandbox here ({said})")
    return Availability(True)


def _blocking_folders(paths: Iterable[Path], traversable: Callable[[Path], bool]) -> list[Path]:
    """Folders above ``paths`` that the job's uid may not pass through."""
    found = []
    for path in paths:
        for parent in reversed(path.parents):
            if parent != Path("/") and not traversable(parent):
                found.append(parent)
                break
    return found


def _outermost(folders: Iterable[Path]) -> list[Path]:
    unique = sorted(set(folders), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for folder in unique:
        if not any(folder.is_relative_to(outer) for outer in kept):
            kept.append(folder)
    return kept


def _below_any(path: Path, folders: Iterable[Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _traversable(folder: Path, uid: int) -> bool:
    try:
        info = folder.stat()
    except OSError:
        return True
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    return bool(info.st_mode & stat.S_IXOTH)


def _devices() -> list[Path]:
    return sorted(path for pattern in DEVICE_GLOBS for path in Path("/dev").glob(pattern))


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid, follow_symlinks=False)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


def _which(program: str) -> str:
    return shutil.which(program) or program
