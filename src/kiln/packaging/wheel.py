"""A wheel of the kiln that is running, for a build context: kiln is not on PyPI, so the image installs it from here.

Built from the installed package's files (what ``import kiln`` loads), without studio's ``node_modules``
and without caches, with the installed distribution's metadata (its name, version, dependencies and
the ``kiln`` command). The zip's entries carry a fixed date, so the same files make the same wheel;
it is built once per content and kept in the capability's folder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import kiln

SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
_EPOCH = (1980, 1, 1, 0, 0, 0)
_lock = threading.Lock()


def kiln_version() -> str:
    try:
        return metadata.version("kiln")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def package_files(root: Path) -> Iterator[Path]:
    """kiln's files under ``root`` (the package folder), sorted, without the skipped folders and compiled files."""
    for current, folders, names in os.walk(root):
        folders[:] = sorted(f for f in folders if f not in SKIPPED_FOLDERS and not f.startswith("."))
        for name in sorted(names):
            path = Path(current) / name
            if not name.endswith(SKIPPED_SUFFIXES) and path.is_file() and not path.is_symlink():
                yield path


def kiln_wheel(cache: Path) -> Path:
    """The wheel of the running kiln, built into ``cache`` the first time these files are seen."""
    root = Path(kiln.__file__).resolve().parent
    files = list(package_files(root))
    fingerprint = hashlib.sha256()
    for path in files:
        stat = path.stat()
        fingerprint.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    version = kiln_version()
    wheel = cache / fingerprint.hexdigest()[:20] / f"kiln-{version}-py3-none-any.whl"
    with _lock:
        if not wheel.is_file():
            wheel.parent.mkdir(parents=True, exist_ok=True)
            partial = wheel.with_suffix(".partial")
            _write_wheel(partial, root, files, version)
            partial.rename(wheel)
    return wheel


def _write_wheel(target: Path, root: Path, files: list[Path], version: str) -> None:
    dist_info = f"kiln-{version}.dist-info"
    record: list[str] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")

        for path in files:
            add(f"kiln/{path.relative_to(root).as_posix()}", path.read_bytes())
        for name, text in _metadata_files(version).items():
            add(f"{dist_info}/{name}", text.encode())
        record.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=_EPOCH)
        info.external_attr = 0o644 << 16
        archive.writestr(info, "\n".join(record) + "\n")


def _metadata_files(version: str) -> dict[str, str]:
    try:
        installed = metadata.distribution("kiln")
        requires, entry_points = installed.requires or [], installed.read_text("entry_points.txt")
        summary = installed.metadata["Summary"] or ""
    except metadata.PackageNotFoundError:
        requires, entry_points, summary = [], None, ""
    lines = ["Metadata-Version: 2.1", "Name: kiln", f"Version: {version}", f"Summary: {summary}"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    files = {
        "METADATA": "\n".join(lines) + "\n",
        "WHEEL": "Wheel-Version: 1.0\nGenerator: kiln.packaging.wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files["entry_points.txt"] = entry_points or "[console_scripts]\nkiln = kiln.cli.main:main\n"
    return files
