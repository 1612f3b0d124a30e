"""The Python of a job that names no environment: the server's own packages, read-only, under a venv of the job's.

Such a job ("server-interpreter") imports kiln's installation (MLflow, scikit-learn, …), but a
``pip install`` in it must never change that installation (one job once grew kiln's venv by
gigabytes with a CUDA build of torch). So the job runs a small venv made in its own folder:
its ``site-packages`` adds the server's ``site-packages`` behind its own (a ``.pth`` file), its
``pip`` is the server's pip run by the venv's Python, so it installs into the job's venv, and
pip refuses to uninstall or upgrade in place what lies outside that venv ("outside
environment"). The server's other console scripts (``mlflow``…) are linked into its ``bin``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import threading
import uuid
from pathlib import Path

from kiln.environments.builder import bundled_pip_wheel
from kiln.environments.interpreters import NO_DOWNLOADS
from kiln.errors import KilnError

log = logging.getLogger(__name__)

PTH_NAME = "_kiln_server_packages.pth"
OVERLAY_SPARES = ".overlay-spares"  # below the jobs' folder: a spare moves into a job's folder with a rename
JOB_OVERLAY_FOLDER = "python"  # the overlay venv, below the job's folder (writable in the job sandbox too)
OWN_SCRIPTS = (
    "python",
    "pip",
    "activate",
    "Activate",
    "deactivate",
    "__pycache__",
)  # the overlay's own; not linked from the server's bin
PIP_SCRIPT = "#!{python}\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n"


def make_server_overlay(folder: Path, uv: str) -> Path:
    """Create the job's venv at ``folder`` (once); its ``bin``."""
    python = folder / "bin" / "python"
    if python.exists():
        return python.parent
    _make_movable_part(folder, uv)
    return _finish(folder, uv)


def _make_movable_part(venv: Path, uv: str) -> None:
    """All of an overlay that does not depend on where it is (a relocatable venv, the server's packages, links to
    the server's scripts): made ahead of need by :class:`OverlaySpares`."""
    env = _uv_environment()
    made = subprocess.run(
        [uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(venv)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    if made.returncode != 0:
        raise KilnError(f"preparing the job's Python failed: uv venv: {made.stderr.strip()}")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    packages = venv / "lib" / version / "site-packages"
    server_sites = [
        p for p in dict.fromkeys([*site.getsitepackages(), sysconfig.get_path("purelib")]) if Path(p).is_dir()
    ]
    (packages / PTH_NAME).write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in server_sites))
    _link_server_scripts(venv / "bin")


def _uv_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | NO_DOWNLOADS


def _finish(venv: Path, uv: str) -> Path:
    """What names the overlay's own path (its pip's first line), once it is where the job runs; its ``bin``."""
    python = venv / "bin" / "python"
    bin_dir = python.parent
    if importlib.util.find_spec("pip") is not None:
        for name in ("pip", "pip3", f"pip{sys.version_info.major}.{sys.version_info.minor}"):
            script = bin_dir / name
            script.write_text(PIP_SCRIPT.format(python=python))
            script.chmod(0o755)
    else:
        _seed_pip(uv, python, _uv_environment())
    return bin_dir


def _seed_pip(uv: str, python: Path, env: dict[str, str]) -> None:
    wheel = bundled_pip_wheel(str(python))
    if wheel is None:
        return  # no pip anywhere: the job has none either (and no other pip to reach kiln's packages)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "--no-index", str(wheel)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def _link_server_scripts(bin_dir: Path) -> None:
    """The server's console scripts (mlflow, …) stay reachable as before; python and pip are the overlay's."""
    server_bin = Path(sys.executable).parent
    for entry in server_bin.iterdir():
        if entry.name.startswith(OWN_SCRIPTS) or (bin_dir / entry.name).exists():
            continue
        (bin_dir / entry.name).symlink_to(entry)


class OverlaySpares:
    """Overlays made ahead of need, so that a job's start does not wait for ``uv venv`` and the links (about
    0.1 s): ``keep`` spares wait in ``folder`` (on the jobs' file system), a job's overlay is one of them moved
    into its folder (a rename) and finished there (its pip's first line), and the next is made in the
    background. With no spare ready (a burst, or another file system) an overlay is made as before."""

    def __init__(self, folder: Path, uv: str, keep: int = 2) -> None:
        self._folder = folder
        self._uv = uv
        self._keep = keep
        self._lock = threading.Lock()
        self._filling = False
        self._checked = False  # spares of an earlier server (maybe another Python) are not used

    def make(self, target: Path) -> Path:
        """The overlay at ``target`` (once), from a spare when one is ready; its ``bin``."""
        if (target / "bin" / "python").exists():
            return target / "bin"
        target.parent.mkdir(parents=True, exist_ok=True)
        taken = self._take(target)
        self.fill_soon()
        if not taken:
            return make_server_overlay(target, self._uv)
        return _finish(target, self._uv)

    def _take(self, target: Path) -> bool:
        for spare in sorted(self._folder.glob("ready-*")):
            try:
                spare.rename(target)  # atomic: of two jobs taking one spare, one gets it
                return True
            except FileNotFoundError:
                continue  # another job took it
            except OSError:
                return False  # another file system: made in place instead
        return False

    def fill_soon(self) -> None:
        """Make spares up to ``keep`` in a background thread (one at a time)."""
        with self._lock:
            if self._filling:
                return
            self._filling = True
        threading.Thread(target=self._fill, name="overlay-spares", daemon=True).start()

    def _fill(self) -> None:
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            if not self._checked:  # spares of an earlier server, and any it left half made, go
                for old in [*self._folder.glob("making-*"), *self._folder.glob("ready-*")]:
                    shutil.rmtree(old, ignore_errors=True)
                self._checked = True
            while len(list(self._folder.glob("ready-*"))) < self._keep:
                making = self._folder / f"making-{uuid.uuid4().hex}"
                _make_movable_part(making, self._uv)
                making.rename(self._folder / f"ready-{uuid.uuid4().hex}")
        except (OSError, KilnError):
            log.warning("could not make a spare job overlay (jobs make their own)", exc_info=True)
        finally:
            with self._lock:
                self._filling = False
