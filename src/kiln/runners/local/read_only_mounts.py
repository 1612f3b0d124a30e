"""``ro_mount`` inputs: the stored version itself, bind-mounted read-only in the job's own mount namespace.

When a job has such inputs, its command starts through ``unshare --mount --propagation
private`` (plus ``--user --map-root-user`` when the server is not root) and a few lines of
``sh`` that bind-mount each source at its target, remount it read-only, then exec the
command. Nothing is copied; the mounts exist only in the job's namespace and end with its
processes; a write fails with EROFS even for root. Where namespaces are not available
(probed once with a real mount), the input becomes a copy with write permission removed
(chmod a-w), which stops other users but not root; the job's log says so.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from kiln.artifacts.store import copy_tree
from kiln.jobs.folders import say

# $1 is mount's path, then SOURCE TARGET pairs up to "--", then the command to exec.
MOUNT_SCRIPT = (
    'm=$1; shift; while [ "$1" != -- ]; do "$m" --bind "$1" "$2" && "$m" -o remount,bind,ro "$2" || exit 125; '
    'shift 2; done; shift; exec "$@"'
)


@dataclass(frozen=True)
class ReadOnlyMount:
    source: Path
    target: Path


class ReadOnlyInputs:
    """Read-only inputs asked for while a job is prepared, applied when its command is launched."""

    def __init__(self, scratch: Path, use_namespaces: bool | None = None) -> None:
        self._scratch = scratch
        self._use_namespaces = use_namespaces  # None: probe; False: always copy (tests of the fallback)
        self._lock = threading.Lock()
        self._probed: tuple[list[str] | None, str] | None = None
        self._mounts: list[ReadOnlyMount] = []
        self._notices: dict[Path, str] = {}

    def provide(self, source: Path, target: Path) -> None:
        """Make the folder ``target`` show the folder ``source`` to the job, read-only."""
        prefix, reason = self._namespace_prefix()
        if prefix is not None:
            with self._lock:
                self._mounts.append(ReadOnlyMount(source, target))
            return
        copy_tree(source, target)
        _remove_write_permission(target)
        with self._lock:
            self._notices[target] = (
                f"input {target.name} is a read-only copy (chmod a-w), not a read-only mount, because "
                f"mount namespaces are not available here ({reason}); a process running as root could change "
                "this copy, never the stored version"
            )

    def command_prefix(self, job_root: Path, log: Path) -> list[str]:
        """What to run the job's command through, for the inputs provided below ``job_root`` (may be empty)."""
        mounts = self.claim(job_root, log)
        prefix, _ = self._namespace_prefix()
        if not mounts or prefix is None:
            return []
        pairs = [str(part) for m in mounts for part in (m.source, m.target)]
        return [*prefix, "sh", "-c", MOUNT_SCRIPT, "kiln-read-only-inputs", _which("mount"), *pairs, "--"]

    def claim(self, job_root: Path, log: Path) -> list[ReadOnlyMount]:
        """The mounts asked for below ``job_root`` (a sandbox makes them itself); notices about copies go to ``log``."""
        with self._lock:
            mounts = [m for m in self._mounts if m.target.is_relative_to(job_root)]
            self._mounts = [m for m in self._mounts if m not in mounts]
            notices = [text for target, text in self._notices.items() if target.is_relative_to(job_root)]
            self._notices = {t: n for t, n in self._notices.items() if not t.is_relative_to(job_root)}
        if notices:
            say(log, *notices)
        return mounts

    def _namespace_prefix(self) -> tuple[list[str] | None, str]:
        with self._lock:
            if self._probed is None:
                if self._use_namespaces is False:
                    self._probed = (None, "turned off")
                else:
                    self._probed = _probe(self._scratch)
            return self._probed


def _which(program: str) -> str:
    return shutil.which(program) or program


def _probe(scratch: Path) -> tuple[list[str] | None, str]:
    """Try the real thing once: mount a folder read-only in a new namespace and fail to write to it."""
    if not (shutil.which("unshare") and shutil.which("mount")):
        return None, "the unshare and mount commands are not installed"
    prefix = [_which("unshare"), "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".mount-probe-") as tmp:
        source, target = Path(tmp, "source"), Path(tmp, "target")
        source.mkdir()
        target.mkdir()
        (source / "probe").write_text("probe")
        check = 'test -f "$0/probe" && ! touch "$0/probe" 2>/dev/null'
        command = [*prefix, "sh", "-c", MOUNT_SCRIPT, "probe", _which("mount"), str(source), str(target), "--"]
        try:
            result = subprocess.run(
                [*command, "sh", "-c", check, str(target)], capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"trying it failed: {exc}"
    if result.returncode != 0:
        return None, (result.stderr.strip() or f"a test mount ended with code {result.returncode}")[:300]
    return prefix, ""


def _remove_write_permission(root: Path) -> None:
    """chmod a-w below ``root``, files first and folders last (so the walk can still list them)."""
    write_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    paths = sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True) + [root]
    for path in paths:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~write_bits)
