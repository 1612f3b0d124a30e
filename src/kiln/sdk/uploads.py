"""Client side of uploads: a local folder or file becomes an ``upload:<hash>`` reference."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from kiln import api
from kiln.sdk.rest import RestClient

SKIPPED_NAMES = {".git", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache"}


def _skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = Path(info.name).parts
    if any(part in SKIPPED_NAMES for part in parts) or info.name.endswith(".pyc"):
        return None
    return info


def upload_path(rest: RestClient, path: Path, keep_folder_name: bool = False) -> str:
    """Send ``path`` to the workspace (once per content) and return its reference: ``upload:<hash>`` for a
    folder's contents, ``upload:<hash>/NAME`` for a file, and, with ``keep_folder_name``, for a folder sent
    with its name (a model: Azure's model folder layout keeps the name it was registered from)."""
    kind = "folder" if path.is_dir() else "file"
    named = keep_folder_name and path.is_dir()
    with tempfile.TemporaryFile() as archive:
        with tarfile.open(fileobj=archive, mode="w:gz", compresslevel=1) as tar:
            if named:
                tar.add(path, arcname=path.resolve().name, filter=_skip)
            elif path.is_dir():
                for child in sorted(path.iterdir()):
                    tar.add(child, arcname=child.name, filter=_skip)
            else:
                tar.add(path, arcname=path.name)
        archive.seek(0)
        view = rest.call(api.uploads.CREATE, params={"kind": kind}, content=archive)
    return f"{view.reference}/{path.resolve().name}" if named else view.reference
