"""The venv cache with the real uv, offline: wheels written by the test into a find-links folder."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest
from uv import find_uv_bin

from kiln.environments.build_spec import BuildSpec
from kiln.environments.builder import EnvironmentCache
from kiln.environments.interpreters import InterpreterFinder, server_python_version
from kiln.environments.pip_config import IndexSettings
from kiln.errors import InvalidSpec, KilnError


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A real, minimal pure-Python wheel: ``import <name>`` gives ``__version__``."""
    folder.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n',
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: kiln-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    for version in ("1.0", "2.0"):
        make_wheel(folder, "kiln-probe", version)
    return folder


@pytest.fixture(scope="module")
def finder() -> InterpreterFinder:
    return InterpreterFinder(
        find_uv_bin(), dict(os.environ)
    )  # as the server builds it: its PATH finds the interpreters


def spec_for(finder: InterpreterFinder, wheels: Path, *requirements: str) -> BuildSpec:
    python = finder.find(server_python_version())
    index = IndexSettings(no_index=True, find_links=(str(wheels),))
    return BuildSpec(python.version, python.executable, tuple(requirements), index)


def installed_version(venv: str) -> str:
    probe = [f"{venv}/bin/python", "-c", "import kiln_probe; print(kiln_probe.__version__)"]
    return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()


def test_build_then_cache_hit_then_changed_spec_rebuilds(tmp_path: Path, finder, wheels: Path) -> None:  # type: ignore[no-untyped-def]
    cache = EnvironmentCache(tmp_path / "envs", find_uv_bin())
    lines: list[str] = []
    spec = spec_for(finder, wheels, "kiln-probe==1.0")

    started = time.perf_counter()
    built = cache.ensure(spec, lines.append)
    cold = time.perf_counter() - started
    assert built.hash == spec.hash and Path(built.venv) == tmp_path / "envs" / spec.hash / "venv"
    assert "kiln-probe==1.0" in built.lock
    assert installed_version(built.venv) == "1.0"
    # its own pip (the interpreter's bundled wheel, offline), so a job's `pip install` lands in this venv
    pip = subprocess.run(
        [Path(built.venv) / "bin" / "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout  # fmt: skip
    assert f"{built.venv}/lib" in pip, pip
    assert any(line.startswith("pip==") for line in built.lock), built.lock  # not a path of this machine
    assert any("building with uv" in line for line in lines) and any("kiln-probe==1.0" in line for line in lines)
    assert Path(built.build_log).read_text().count("kiln-probe") >= 1  # the log is kept
    assert not any((tmp_path / "envs" / "building").iterdir())  # no scratch left behind

    started = time.perf_counter()
    again = cache.ensure(spec_for(finder, wheels, "kiln-probe==1.0"), lines.append)
    hit = time.perf_counter() - started
    assert again.venv == built.venv and again.lock == built.lock
    assert "reused from the cache" in lines[-1]
    assert hit < cold / 5, f"cache hit {hit:.3f}s vs cold build {cold:.3f}s"

    changed = cache.ensure(spec_for(finder, wheels, "kiln-probe==2.0"), lines.append)
    assert changed.hash != built.hash and "kiln-probe==2.0" in changed.lock
    assert installed_version(changed.venv) == "2.0"
    assert installed_version(built.venv) == "1.0"  # the first one is untouched


def test_two_requests_at_once_build_once(tmp_path: Path, finder, wheels: Path) -> None:  # type: ignore[no-untyped-def]
    cache = EnvironmentCache(tmp_path / "envs", find_uv_bin())
    spec = spec_for(finder, wheels, "kiln-probe==2.0")
    said: list[list[str]] = [[], []]
    results = []

    def build(index: int) -> None:
        results.append(cache.ensure(spec, said[index].append))

    threads = [threading.Thread(target=build, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.venv for r in results}) == 1
    assert len(list((tmp_path / "envs" / "logs").iterdir())) == 1  # one build
    builds = [lines for lines in said if any("building with uv" in line for line in lines)]
    assert len(builds) == 1


def test_a_failing_install_carries_uv_message_and_leaves_nothing(tmp_path: Path, finder, wheels: Path) -> None:  # type: ignore[no-untyped-def]
    cache = EnvironmentCache(tmp_path / "envs", find_uv_bin())
    spec = spec_for(finder, wheels, "kiln-probe==9.9")
    with pytest.raises(KilnError) as caught:
        cache.ensure(spec, lambda _line: None)
    message = caught.value.message
    assert "uv pip install exited with code" in message
    assert "kiln-probe==9.9" in message and "No solution found" in message
    assert cache.lookup(spec.hash) is None
    assert not (tmp_path / "envs" / spec.hash).exists()
    assert not any((tmp_path / "envs" / "building").iterdir())
    assert "No solution found" in next((tmp_path / "envs" / "logs").iterdir()).read_text()


def test_a_python_that_is_not_installed_is_a_clear_error(finder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidSpec, match=r"python 3\.1 is not available on the workspace server.*never downloads"):
        finder.find("3.1")
    assert finder.find(server_python_version()).version.startswith(server_python_version())
