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
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from kiln.environments.builder import bundled_pip_wheel
from kiln.environments.interpreters import NO_DOWNLOADS
from kiln.errors import KilnError

PTH_NAME = "_kiln_server_packages.pth"
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
    venv = folder
    python = venv / "bin" / "python"
    if python.exists():
        return python.parent
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | NO_DOWNLOADS
    made = subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
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
    bin_dir = python.parent
    if importlib.util.find_spec("pip") is not None:
        for name in ("pip", "pip3", f"pip{sys.version_info.major}.{sys.version_info.minor}"):
            script = bin_dir / name
            script.write_text(PIP_SCRIPT.format(python=python))
            script.chmod(0o755)
    else:
        _seed_pip(uv, python, env)
    _link_server_scripts(bin_dir)
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
