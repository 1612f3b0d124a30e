"""The one resolver of references to stored content: every path a user names ends up here.

A reference names something below a root: ``upload:<hash>/<path>`` (an upload), ``runs:/<job>/<path>``
(a job's MLflow run), ``azureml://jobs/<job>/outputs/<output>[/paths/<path>]`` (``kiln://`` too: a job's
kept output), an artifact key, or a path in an MLTable file. Whatever the kind, the user-given part is
checked by :func:`relative_path`: it is normalised (``.`` and empty segments dropped) and refused with
:class:`~kiln.errors.InvalidSpec` naming the field when it could leave its root: ``..``, an absolute path,
a backslash, a NUL byte, a ``%``-encoded ``..``, ``/`` or backslash. On a local disk :func:`inside` resolves
symbolic links too, so a link cannot lead out either. The artifact store opens every key through
:func:`relative_path` (``ArtifactStore._path``); stored content never holds links (:func:`regular_files`
lists what is copied in, :func:`remove_links` clears a job's folders before they are kept).

Standard library and ``kiln.errors`` only: the SDK (MLTable reading in a job) imports it too.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from kiln.errors import InvalidSpec

UPLOAD_PREFIX = "upload:"
_UPLOAD = re.compile(r"^upload:(?P<digest>[0-9a-f]{64})(?:/(?P<path>.*))?$", re.DOTALL)
_RUNS = re.compile(r"^runs:/(?P<job>[^/]*)(?:/(?P<path>.*))?$", re.DOTALL)
_JOB_OUTPUT = re.compile(
    r"^(?:azureml|kiln)://jobs/(?P<job>[^/]*)/outputs/(?P<output>[^/]*)(?:/paths/(?P<path>.*)|/?)$", re.DOTALL
)
JOB_OUTPUT_FORMS = "azureml://jobs/JOB/outputs/OUTPUT[/paths/PATH] (or kiln://…)"


def relative_path(text: str, field: str, *, allow_root: bool = False) -> str:
    """``text`` as a clean '/'-separated path that stays below its root, or InvalidSpec naming ``field``.

    ``a/./b//c/`` becomes ``a/b/c``; the root itself (``''``, ``.``) only with ``allow_root``."""
    why = _why_outside(text)
    if why:
        raise InvalidSpec(f"{field}: {text!r} {why}; give a path inside it, such as 'folder/file.txt'")
    clean = "/".join(part for part in text.split("/") if part not in ("", "."))
    if not clean and not allow_root:
        raise InvalidSpec(f"{field}: {text!r} names no file or folder; give a path such as 'folder/file.txt'")
    return clean


def _why_outside(text: str) -> str | None:
    if "\0" in text:
        return "holds a NUL byte"
    if "\\" in text:
        return "holds a backslash (paths use '/')"
    if text.startswith("/"):
        return "is absolute: it must be a path relative to its folder"
    if ".." in text.split("/"):
        return "points outside its folder with '..'"
    decoded = unquote(text)
    if decoded != text and (_why_outside(decoded) or decoded.count("/") != text.count("/")):
        return "holds a %-encoded '..', '/', backslash or NUL"
    return None


def join_key(prefix: str, path: str, field: str) -> str:
    """The store key of ``path`` (user-given, checked) below the kiln-made ``prefix``."""
    clean = relative_path(path, field, allow_root=True)
    return f"{prefix}/{clean}" if clean else prefix


def inside(base: Path, path: str, field: str) -> Path:
    """``base / path`` on a local disk, refusing a path that leaves ``base`` by name or through a symbolic link."""
    target = base / relative_path(path, field, allow_root=True)
    root = base.resolve()
    if not target.resolve().is_relative_to(root):
        raise InvalidSpec(f"{field}: {path!r} leads outside its folder through a symbolic link")
    return target


def is_inside(base: Path, target: Path, *, base_resolved: bool = False) -> bool:
    """Whether ``target``, its links resolved, is ``base`` or below it (``base_resolved``: the caller resolved
    ``base`` once, as the artifact store does its root: a list of a thousand jobs asks this thousands of times)."""
    return target.resolve().is_relative_to(base if base_resolved else base.resolve())


def open_inside(base: Path, path: str, field: str) -> BinaryIO:
    """The regular file ``base/path``, opened for reading without following a symbolic link on the way: each
    folder and then the file are opened with O_NOFOLLOW relative to the one before, so a link swapped in while
    kiln reads (a running job's ``./logs``) fails the read (OSError) instead of leading out."""
    parts = relative_path(path, field).split("/")
    folder = _open_folder(base, parts[:-1])
    try:
        descriptor = os.open(parts[-1], _NOFOLLOW | getattr(os, "O_NONBLOCK", 0), dir_fd=folder)
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise IsADirectoryError(f"{field}: {path!r} is not a regular file")
    return os.fdopen(descriptor, "rb")


def names_inside(base: Path, path: str, field: str) -> set[str]:
    """The names directly in the folder ``base/path``, reached without following a symbolic link (as
    :func:`open_inside` reaches a file, and without resolving each path: a list of a thousand jobs asks this
    of each job's outputs); none where no such folder is, or a link is on the way (stored content holds none)."""
    try:
        folder = _open_folder(base, relative_path(path, field, allow_root=True).split("/"))
    except (FileNotFoundError, NotADirectoryError):
        return set()
    except OSError as exc:  # ELOOP: a link where a folder was expected
        if exc.errno == errno.ELOOP:
            return set()
        raise
    try:
        return set(os.listdir(folder))
    finally:
        os.close(folder)


_NOFOLLOW = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)


def _open_folder(base: Path, parts: list[str]) -> int:
    """A descriptor of the folder ``base/parts…``, each part opened with O_NOFOLLOW relative to the one before."""
    folder = os.open(base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for part in (p for p in parts if p):
            inner = os.open(part, _NOFOLLOW | getattr(os, "O_DIRECTORY", 0), dir_fd=folder)
            os.close(folder)
            folder = inner
    except BaseException:
        os.close(folder)
        raise
    return folder


# The reference kinds ------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadReference:
    """``upload:<hash>[/<path>]``: a client's upload, or one file or folder in it (``path`` '' for all of it)."""

    digest: str
    path: str


@dataclass(frozen=True)
class RunReference:
    """``runs:/<job>/<path>``: an artifact of a job's MLflow run."""

    job: str
    path: str


@dataclass(frozen=True)
class JobOutputReference:
    """``azureml://jobs/<job>/outputs/<output>[/paths/<path>]``: a job's kept output (or a path in it)."""

    job: str
    output: str
    path: str


def parse_upload(text: str, field: str) -> UploadReference:
    match = _UPLOAD.match(text)
    if not match:
        raise InvalidSpec(
            f"{field}: {text!r} is not an uploaded path; the CLI and SDK upload local "
            f"paths for you, a REST client must POST them to /api/v1/uploads first"
        )
    return UploadReference(match["digest"], relative_path(match["path"] or "", field, allow_root=True))


def parse_run(text: str, field: str) -> RunReference | None:
    """The parts of a ``runs:/`` reference; None when ``text`` is another kind."""
    match = _RUNS.match(text)
    if not match:
        return None
    job = _name(match["job"], "job", text, field)
    return RunReference(job, relative_path(match["path"] or "", field))


def parse_job_output(text: str, field: str) -> JobOutputReference | None:
    """The parts of an ``azureml://jobs/…`` (or ``kiln://jobs/…``) reference; None when ``text`` is another kind."""
    if not text.startswith(("azureml://jobs/", "kiln://jobs/")):
        return None
    match = _JOB_OUTPUT.match(text)
    if not match:
        raise InvalidSpec(f"{field}: {text!r} is not a job output; use {JOB_OUTPUT_FORMS}")
    job = _name(match["job"], "job", text, field)
    output = _name(match["output"], "output", text, field)
    return JobOutputReference(job, output, relative_path(match["path"] or "", field, allow_root=True))


def _name(value: str, what: str, text: str, field: str) -> str:
    """One path segment naming a job or an output: not empty, not '.' or '..', nothing encoded."""
    if value in ("", ".", "..") or _why_outside(value) or "%" in value:
        raise InvalidSpec(f"{field}: {text!r} names no valid {what} ({value!r})")
    return value


# Content copied in from a local folder ------------------------------------------------------
def regular_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The regular files at or below ``folder`` (sorted), and the symbolic links found there, which are not
    followed: a link's target (``/etc/passwd``, the workspace token) never becomes stored content."""
    if folder.is_symlink():
        return [], [folder]
    if not folder.is_dir():
        return ([folder] if _is_regular(folder) else []), []
    files: list[Path] = []
    links: list[Path] = []
    for current, folders, names in os.walk(folder, followlinks=False):
        here = Path(current)
        for name in folders:
            if (here / name).is_symlink():
                links.append(here / name)
        for name in names:
            path = here / name
            if path.is_symlink():
                links.append(path)
            elif _is_regular(path):
                files.append(path)
    return sorted(files), sorted(links)


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def remove_links(folder: Path) -> list[str]:
    """Remove every symbolic link at or below ``folder`` (itself included); their paths relative to
    ``folder``'s parent, for a note. A job's folders are cleared so before they are kept."""
    if not folder.is_symlink() and not folder.exists():
        return []
    _files, links = regular_files(folder)
    removed = []
    for link in links:
        removed.append(link.relative_to(folder.parent).as_posix())
        link.unlink(missing_ok=True)
    return removed
