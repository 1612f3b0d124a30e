"""The artifact store: code snapshots, uploaded inputs, job outputs and logs, over fsspec.

Keys are '/'-separated paths below the root (a local folder by default, ``s3://…`` for
teams). Content-addressed entries (``snapshots/<sha256>``) are written once, through a
temporary key and a rename, so a reader never sees half an entry.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import fsspec


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
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        digest.update(rel.encode() + b"\0")
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


class ArtifactStore:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root)
        self.fs.makedirs(self._base, exist_ok=True)

    @property
    def is_local(self) -> bool:
        return "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def _path(self, key: str) -> str:
        return f"{self._base}/{key.strip('/')}"

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def is_dir(self, key: str) -> bool:
        return bool(self.fs.isdir(self._path(key)))

    def put(self, local: Path, key: str) -> None:
        """Copy a local file or folder to ``key`` (replacing what was there)."""
        target = self._path(key)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)
        if local.is_dir():
            self.fs.makedirs(target, exist_ok=True)
            files = [p for p in local.rglob("*") if p.is_file()]
            for file in files:
                dest = f"{target}/{file.relative_to(local).as_posix()}"
                self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
                self.fs.put_file(str(file), dest)
        else:
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(local), target)

    def put_content_addressed(self, local: Path, prefix: str) -> str:
        """Store a folder once under ``prefix/<tree hash>``; return the hash."""
        digest = tree_hash(local)
        key = f"{prefix}/{digest}"
        if not self.exists(key):
            staging = f"{prefix}/.staging-{uuid.uuid4().hex}"
            self.put(local, staging)
            try:
                self.fs.mv(self._path(staging), self._path(key), recursive=True)
            except (FileExistsError, OSError):
                self.fs.rm(self._path(staging), recursive=True)  # another writer won; same content
        return digest

    def get(self, key: str, local: Path) -> None:
        """Copy ``key`` (file or folder) to the local path ``local``."""
        source = self._path(key)
        if self.fs.isdir(source):
            local.mkdir(parents=True, exist_ok=True)
            for path in self.fs.find(source):
                rel = path[len(source) :].lstrip("/")
                dest = local / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(path, str(dest))
        else:
            local.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(source, str(local))

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        handle: IO[bytes] = self.fs.open(self._path(key), mode)
        return handle

    def list_files(self, key: str) -> list[str]:
        source = self._path(key)
        if not self.fs.exists(source):
            return []
        if not self.fs.isdir(source):
            return [key.rsplit("/", 1)[-1]]
        return sorted(p[len(source) :].lstrip("/") for p in self.fs.find(source))

    def iter_tar(self, key: str, arcname: str) -> Iterator[bytes]:
        """Stream ``key`` as an uncompressed tar, without holding it all in memory."""
        pipe = _ChunkPipe()
        folder = self.is_dir(key)
        with tarfile.open(fileobj=pipe, mode="w|") as archive:  # type: ignore[call-overload]
            for rel in self.list_files(key):
                path = f"{self._path(key)}/{rel}" if folder else self._path(key)
                info = tarfile.TarInfo(f"{arcname}/{rel}" if folder else arcname)
                info.size = int(self.fs.size(path))
                info.mode = 0o644
                with self.fs.open(path, "rb") as handle:
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


def copy_tree(source: Path, dest: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, dest, dirs_exist_ok=True, symlinks=False)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
