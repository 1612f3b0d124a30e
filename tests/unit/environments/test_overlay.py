"""The Python of a job without an environment: the server's packages behind a venv of the job's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from uv import find_uv_bin

from kiln.environments.overlay import make_server_overlay
from tests.unit.environments.test_builder import make_wheel


def test_the_overlay_reads_the_servers_packages_and_its_pip_installs_into_the_overlay(tmp_path: Path) -> None:
    bin_dir = make_server_overlay(tmp_path / "python", find_uv_bin())
    assert bin_dir == tmp_path / "python" / "bin"
    assert make_server_overlay(tmp_path / "python", find_uv_bin()) == bin_dir  # made once
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
