"""Client side of uploads: a local folder or file becomes an ``upload:<hash>`` reference."""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from kiln.api.paths import UPLOADS  # api.uploads.CREATE's path: its answer is read without pydantic
from kiln.errors import InvalidSpec, Unavailable
from kiln.sdk.rest import RestClient

SKIPPED_NAMES = {".git", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache"}


def _skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = Path(info.name).parts
    if any(part in SKIPPED_NAMES for part in parts) or info.name.endswith(".pyc"):
        return None
    return info


def unreadable(path: Path) -> Path | None:
    """The first file or folder under ``path`` (itself included) that an upload could not read, if any (what
    the upload skips is not looked at)."""
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        return path
    if not path.is_dir():
        return None
    for folder, folders, files in os.walk(path, onerror=_raise):
        folders[:] = [name for name in folders if name not in SKIPPED_NAMES]
        for name in [*folders, *files]:
            child = Path(folder) / name
            if _skip(tarfile.TarInfo(str(child.relative_to(path)))) is None or child.is_symlink():
                continue
            if not os.access(child, os.R_OK) or (child.is_dir() and not os.access(child, os.X_OK)):
                return child
    return None


def _raise(error: OSError) -> None:
    raise error


def ensure_readable(path: Path, where: str) -> None:
    """InvalidSpec naming ``where`` (the file, line and field) if an upload of ``path`` could not read all of it."""
    try:
        blocked = unreadable(path)
    except OSError as exc:
        blocked = Path(exc.filename or path)
    if blocked is not None:
        raise InvalidSpec(
            f"{where}: '{blocked}' cannot be read (permission denied); make it readable (chmod u+r) or move it out"
        )


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
        answer = rest.send_json("POST", UPLOADS, {"kind": kind}, content=archive)
    reference = _reference_of(answer, rest.url)
    return f"{reference}/{path.resolve().name}" if named else reference


def _reference_of(answer: Any, url: str) -> str:
    """The ``reference`` of an ``UploadView`` answer (read as plain JSON: uploading imports no pydantic)."""
    reference = answer.get("reference") if isinstance(answer, dict) else None
    if not isinstance(reference, str) or not reference.startswith("upload:"):
        raise Unavailable(
            f"the workspace at {url} answered an upload with no reference this kiln can read ({answer!r:.200}); "
            "is this kiln (kiln version) older than the workspace?"
        )
    return reference
