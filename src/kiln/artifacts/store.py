"""The artifact store: code snapshots, uploaded inputs, job outputs and logs, over fsspec.

Keys are '/'-separated paths below the root (a local folder by default, ``s3://…`` for
teams). Content-addressed entries (``snapshots/<sha256>``) are written once so that a reader
never sees half an entry: in a local folder through a temporary key and a rename; in an
object store, which has no rename, by writing the files in place and then a completion
marker (``<prefix>/.complete/<sha256>``) that ``has_content`` checks.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import fsspec

from kiln.artifacts.references import inside, is_inside, names_inside, open_inside, regular_files, relative_path
from kiln.errors import InvalidSpec

KEY_FIELD = "artifact key"
MLFLOW_ARTIFACTS_KEY = "mlflow"  # the folder of the store where MLflow keeps runs' artifacts (mlflow-artifacts:/…)


def path_hash(path: Path) -> str:
    """Content hash of a file (its name and bytes) or a folder (see ``tree_hash``)."""
    if path.is_dir():
        return tree_hash(path)
    digest = hashlib.sha256(path.name.encode() + b"\0")
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_hash(folder: Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for file in regular_files(folder)[0]:
        rel = file.relative_to(folder).as_posix()
        digest.update(rel.encode() + b"\0")
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


COMPLETE_MARKERS = ".complete"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ArtifactStore:
    """``storage_options`` go to the fsspec file system (for s3://, e.g. the endpoint). An object
    store's bucket must exist: nothing here creates it (``kiln.artifacts.roots`` checks it at start)."""

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.root = root.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root, **dict(storage_options or {}))
        self._resolved_base: Path | None = None  # a local root with its links resolved, once
        if self.is_local:
            self.fs.makedirs(self._base, exist_ok=True)
            self._resolved_base = Path(self._base).resolve()

    @property
    def is_local(self) -> bool:
        return "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def _path(self, key: str) -> str:
        """The one way a key becomes a path of the file system: checked by the reference resolver (nothing
        outside the root, by name or, in a local folder, through a symbolic link)."""
        path = f"{self._base}/{relative_path(key, KEY_FIELD)}"
        if self._resolved_base is not None and not is_inside(self._resolved_base, Path(path), base_resolved=True):
            raise InvalidSpec(f"{KEY_FIELD}: {key!r} leads outside the artifact store through a symbolic link")
        return path

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key))) or self._empty_entry(key)

    def names_under(self, key: str) -> set[str]:
        """The names directly below ``key`` (none where nothing is): one listing where a view would ask
        ``exists`` of each of a folder's entries (a list of a thousand jobs asks it of their outputs). On a
        local disk the folder is reached without following links and without resolving its path (``names_inside``)."""
        if self._resolved_base is not None:
            return names_inside(self._resolved_base, key, KEY_FIELD)
        try:
            entries = self.fs.ls(self._path(key), detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return set()
        return {str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries}

    def is_dir(self, key: str) -> bool:
        return bool(self.fs.isdir(self._path(key))) or self._empty_entry(key)

    def _empty_entry(self, key: str) -> bool:
        """An object store keeps no object for a folder without files: a content-addressed one
        (``prefix/<sha256>``) still exists, known by its completion marker."""
        prefix, _, digest = key.strip("/").rpartition("/")
        return not self.is_local and bool(prefix and _SHA256.fullmatch(digest)) and self.has_content(prefix, digest)

    def put(self, local: Path, key: str) -> None:
        """Copy a local file or folder to ``key`` (replacing what was there): its regular files only, a
        symbolic link is never followed (``references.regular_files``)."""
        target = self._path(key)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)
        if not self.is_local:
            self._upload(local, target)
        elif local.is_dir():
            self.fs.makedirs(target, exist_ok=True)
            for file in regular_files(local)[0]:
                dest = f"{target}/{file.relative_to(local).as_posix()}"
                self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
                self.fs.put_file(str(file), dest)
        elif regular_files(local)[0]:
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(local), target)

    def _upload(self, local: Path, target: str) -> None:
        """Object stores: every file in one concurrent batch; folders are implied by the keys."""
        files = regular_files(local)[0]
        if not local.is_dir() or local.is_symlink():
            if files:
                self.fs.put_file(str(local), target)
            return
        if files:
            self.fs.put([str(p) for p in files], [f"{target}/{p.relative_to(local).as_posix()}" for p in files])

    def put_content_addressed(self, local: Path, prefix: str) -> str:
        """Store a folder once under ``prefix/<tree hash>``; return the hash."""
        digest = tree_hash(local)
        key = f"{prefix}/{digest}"
        if not self.is_local:
            if not self.has_content(prefix, digest):
                # same hash, same files: writers racing here write identical objects, and each
                # writes the marker only after all of its own files
                self._upload(local, self._path(key))
                self.fs.pipe_file(self._path(self._marker(prefix, digest)), b"")
            return digest
        if not self.exists(key):
            staging = f"{prefix}/.staging-{uuid.uuid4().hex}"
            self.put(local, staging)
            try:
                self.fs.mv(self._path(staging), self._path(key), recursive=True)
            except (FileExistsError, OSError):
                self.fs.rm(self._path(staging), recursive=True)  # another writer won; same content
        return digest

    def has_content(self, prefix: str, digest: str) -> bool:
        """Whether ``put_content_addressed`` finished storing ``prefix/<digest>`` (in an object
        store, a half-written entry left by a crash is not there yet)."""
        key = f"{prefix}/{digest}" if self.is_local else self._marker(prefix, digest)
        return bool(self.fs.exists(self._path(key)))

    @staticmethod
    def _marker(prefix: str, digest: str) -> str:
        return f"{prefix}/{COMPLETE_MARKERS}/{digest}"

    def get(self, key: str, local: Path) -> None:
        """Copy ``key`` (file or folder) to the local path ``local``."""
        source = self._path(key)
        if not self.is_local:
            self._download(key, local)
        elif self.fs.isdir(source):
            local.mkdir(parents=True, exist_ok=True)
            for file in regular_files(Path(source))[0]:
                rel = file.relative_to(source).as_posix()
                self._copy_out(f"{key}/{rel}", inside(local, rel, KEY_FIELD))
        else:
            self._copy_out(key, local)

    def _copy_out(self, key: str, dest: Path) -> None:
        """One stored file of a local store to ``dest``, read without following a link."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self.open(key) as source, dest.open("wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)

    def _download(self, key: str, local: Path) -> None:
        """Object stores: every file in one concurrent batch."""
        source = self._path(key)
        files = self._files(source)
        if [rel for rel, _ in files] == [""]:
            local.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(source, str(local))
            return
        if not files and not self._empty_entry(key):
            raise FileNotFoundError(f"{self.root}/{key.strip('/')}: no such artifact")
        local.mkdir(parents=True, exist_ok=True)
        targets = [inside(local, rel, KEY_FIELD) for rel, _ in files]
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        self.fs.get([f"{source}/{rel}" for rel, _ in files], [str(t) for t in targets])

    def _files(self, source: str) -> list[tuple[str, int]]:
        """Each file at or below ``source`` as (path relative to it, '' for ``source`` itself; size)."""
        found = self.fs.find(source, detail=True)
        files = [
            (path[len(source) :].lstrip("/"), int(self.fs.size(path) if info.get("size") is None else info["size"]))
            for path, info in found.items()
            if not path.endswith("/")
        ]
        return sorted(files)

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if self.is_local:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(path, data)

    def size(self, key: str) -> int:
        """Bytes stored at or below ``key``."""
        return int(self.fs.du(self._path(key)))

    def remove(self, key: str) -> None:
        self.fs.rm(self._path(key), recursive=True)

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        path = self._path(key)
        if self.is_local and mode == "rb":  # no symbolic link followed on the way (references.open_inside)
            return open_inside(Path(self._base), relative_path(key, KEY_FIELD), KEY_FIELD)
        handle: IO[bytes] = self.fs.open(path, mode)
        return handle

    def list_files(self, key: str) -> list[str]:
        source = self._path(key)
        if not self.is_local:  # one listing
            files = [rel for rel, _ in self._files(source)]
            return [key.rsplit("/", 1)[-1]] if files == [""] else files
        if not self.fs.exists(source):
            return []
        if not self.fs.isdir(source):
            return [key.rsplit("/", 1)[-1]]
        return [file.relative_to(source).as_posix() for file in regular_files(Path(source))[0]]

    def file_sizes(self, key: str) -> list[tuple[str, int]]:
        """Each regular file at or below ``key`` as (path relative to it, bytes), sorted; no link is followed."""
        source = self._path(key)
        if not self.is_local:
            return [(rel or key.rsplit("/", 1)[-1], size) for rel, size in self._files(source)]
        if not self.fs.exists(source):
            return []
        if not self.fs.isdir(source):
            return [(key.rsplit("/", 1)[-1], os.path.getsize(source))]
        return [(file.relative_to(source).as_posix(), file.stat().st_size) for file in regular_files(Path(source))[0]]

    def iter_tar(self, key: str, arcname: str) -> Iterator[bytes]:
        """Stream ``key`` as an uncompressed tar, without holding it all in memory."""
        pipe = _ChunkPipe()
        if self.is_local:
            folder = self.is_dir(key)
            entries: list[tuple[str, int | None]] = [(rel, None) for rel in self.list_files(key)]
        else:  # sizes from one listing, not a request per file
            files = self._files(self._path(key))
            folder = [rel for rel, _ in files] != [""]
            entries = [(rel or key.rsplit("/", 1)[-1], size) for rel, size in files]
        with tarfile.open(fileobj=pipe, mode="w|") as archive:  # type: ignore[call-overload]
            for rel, size in entries:
                info = tarfile.TarInfo(f"{arcname}/{rel}" if folder else arcname)
                info.mode = 0o644
                with self.open(f"{key}/{rel}" if folder else key) as handle:
                    info.size = os.fstat(handle.fileno()).st_size if size is None else size
                    archive.addfile(info, handle)
                yield from pipe.drain()
        yield from pipe.drain()

    @contextmanager
    def local_view(self, key: str) -> Iterator[Path]:
        """A local path holding ``key``: the stored file itself for a local store (do not
        modify it), else a temporary download removed afterwards."""
        local = self.local_path(key)
        if local is not None:
            yield local
            return
        scratch = Path(tempfile.mkdtemp(prefix="kiln-artifact-"))
        try:
            target = scratch / key.rsplit("/", 1)[-1]
            self.get(key, target)
            yield target
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def copy(self, source: str, target: str) -> bool:
        """``target`` as a copy of what ``source`` holds (a file or a folder); False where ``source`` holds nothing."""
        if not self.exists(source):
            return False
        with self.local_view(source) as local:
            self.put(local, target)
        return True

    def presigned_url(self, key: str, seconds: int) -> str | None:
        """An object store's own time-limited GET URL for the file ``key`` (None for a local folder: kiln signs
        its URLs itself, ``kiln.artifacts.signed_urls``)."""
        path = self._path(key)  # a key out of the store is refused either way
        if self.is_local:
            return None
        return str(self.fs.sign(path, expiration=seconds))

    def local_path(self, key: str) -> Path | None:
        """The file-system path of ``key`` when the store is a local folder."""
        return Path(self._path(key)) if self.is_local else None


class _ChunkPipe:
    """A write-only file object that hands out what was written since the last drain."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> Iterator[bytes]:
        chunks, self._chunks = self._chunks, []
        yield from chunks


def extract_tar_safely(archive: IO[bytes], dest: Path) -> None:
    """Unpack a client's upload; members that would land outside ``dest`` are refused."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=archive, mode="r|*") as tar:
        tar.extractall(dest, filter="data")


def _links(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if os.path.islink(os.path.join(folder, name))]


def copy_tree(source: Path, dest: Path) -> None:
    """A private copy of stored content (no symbolic links are followed or made)."""
    if source.is_dir():
        shutil.copytree(source, dest, dirs_exist_ok=True, ignore=_links)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
