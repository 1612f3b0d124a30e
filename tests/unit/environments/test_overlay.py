"""The Python of a job without an environment: the server's packages behind a venv of the job's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from uv import find_uv_bin

from kiln.environments.overlay import OverlaySpares, make_server_overlay
from tests.conftest import wait_for
from tests.unit.environments.test_builder import make_wheel


def test_the_overlay_reads_the_servers_packages_and_its_pip_installs_into_the_overlay(tmp_path: Path) -> None:
    bin_dir = make_server_overlay(tmp_path / "python", find_uv_bin())
    assert bin_dir == tmp_path / "python" / "bin"
    assert make_server_overlay(tmp_path / "python", find_uv_bin()) == bin_dir  # made once
    check_overlay(bin_dir, tmp_path)


def test_an_overlay_made_ahead_and_moved_into_the_jobs_folder_is_the_same(tmp_path: Path) -> None:
    spares_folder = tmp_path / "jobs" / ".overlay-spares"
    stale = spares_folder / "ready-from-an-earlier-server"
    stale.mkdir(parents=True)  # maybe another Python's: never used
    spares = OverlaySpares(spares_folder, find_uv_bin(), keep=1)
    spares.fill_soon()
    wait_for(lambda: not stale.exists() and len(list(spares_folder.glob("ready-*"))) == 1, what="a spare overlay")
    job = tmp_path / "jobs" / "job-1"
    bin_dir = spares.make(job / "python")
    assert bin_dir == job / "python" / "bin"
    assert spares.make(job / "python") == bin_dir  # made once
    wait_for(lambda: len(list(spares_folder.glob("ready-*"))) == 1, what="the next spare")  # made in the background
    check_overlay(bin_dir, job)


def check_overlay(bin_dir: Path, tmp_path: Path) -> None:
    """The overlay at tmp_path/python (bin_dir) reads the server's packages and installs into itself."""
    probe = subprocess.run(
        [bin_dir / "python", "-c", "import sys, yaml, pydantic; print(sys.prefix); print(yaml.__file__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    prefix, yaml_file = probe.stdout.split()
    assert Path(prefix) == tmp_path / "python" and yaml_file.startswith(sys.prefix)  # the server's packages
    assert (bin_dir / "pip").read_text().startswith(f"#!{bin_dir / 'python'}\n")
    assert (bin_dir / "python").exists() and not (bin_dir / "python").resolve().is_relative_to(sys.prefix)
    server_scripts = {p.name for p in Path(sys.executable).parent.iterdir() if not p.name.startswith(("pip", "python"))}
    if "ruff" in server_scripts:
        assert (bin_dir / "ruff").resolve() == (Path(sys.executable).parent / "ruff").resolve()

    wheels = make_wheel(tmp_path / "wheels", "kiln-overlay-probe", "1.0").parent
    subprocess.run(
        [bin_dir / "pip", "install", "--quiet", "--no-index", "--find-links", wheels, "kiln-overlay-probe"],
        check=True, capture_output=True,
    )  # fmt: skip
    installed = list((tmp_path / "python" / "lib").glob("python*/site-packages/kiln_overlay_probe/__init__.py"))
    assert installed, "pip installed outside the job's venv"
    assert not list(Path(sys.prefix).glob("lib/python*/site-packages/kiln_overlay_probe*"))
