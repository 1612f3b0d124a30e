"""Remote paths read into the workspace: into a job's folder, or into the cache by content hash.

A data asset made from a remote path records the path and the hash of what kiln read when it was
created (Azure's "reference" semantics: nothing is copied into the artifact store), and keeps that read
in the cache. A job reading the asset gets exactly that content: ``ro_mount`` is served from the cache,
``download`` reads the path again and fails, naming the asset, when its content changed since.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from kiln.artifacts.store import tree_hash
from kiln.datastores.service import DatastoreService
from kiln.datastores.stores import Kind
from kiln.errors import InvalidSpec
from kiln.specs.remote_paths import parse_remote_path


@dataclass(frozen=True)
class Snapshot:
    content_hash: str
    folder: Path  # the cached content (a file's folder holds the one file)
    kind: Kind
    files: int
    size_bytes: int


@dataclass
class RemoteData:
    datastores: DatastoreService
    cache: Path

    def kind(self, path: str, field: str) -> Kind:
        """Whether the remote path is a file or a folder (it is read to know: an unreachable path is an error)."""
        store, inner = self.datastores.store_for(parse_remote_path(path, field), field)
        return store.kind(inner, field)

    def download(self, path: str, target: Path, field: str) -> Path:
        """A private copy below ``target``: the file, or ``target`` holding the folder's files."""
        store, inner = self.datastores.store_for(parse_remote_path(path, field), field)
        return store.download(inner, target, field)

    def snapshot(self, path: str, field: str) -> Snapshot:
        """Read the path into the cache, under its content hash (once per content)."""
        kind = self.kind(path, field)
        self.cache.mkdir(parents=True, exist_ok=True)
        partial = self.cache / f".partial-{uuid.uuid4().hex}"
        partial.mkdir()
        try:
            self.download(path, partial, field)
            content_hash = tree_hash(partial)
            files = [p for p in partial.rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files)
            cached = self.cache / content_hash
            if cached.exists():
                shutil.rmtree(partial)
            else:
                try:
                    partial.rename(cached)
                except OSError:  # another reader cached the same content first
                    shutil.rmtree(partial, ignore_errors=True)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return Snapshot(content_hash, cached, kind, len(files), size)

    def pinned(self, path: str, content_hash: str, what: str, field: str) -> Path:
        """The cached content of ``path`` as it was pinned; read again if not cached, and refused if changed."""
        cached = self.cache / content_hash
        if cached.exists():
            return cached
        snapshot = self.snapshot(path, field)
        if snapshot.content_hash != content_hash:
            raise InvalidSpec(
                f"{field}: {what} names {path}, whose content changed since it was created (sha256 then "
                f"{content_hash[:12]}…, now {snapshot.content_hash[:12]}…); create a new version to use the new content"
            )
        return snapshot.folder

    def download_pinned(self, path: str, content_hash: str, target: Path, what: str, field: str) -> Path:
        """A private copy of the pinned content below ``target`` (read again, checked against the hash)."""
        self.download(path, target, field)
        found = tree_hash(target)
        if found != content_hash:
            raise InvalidSpec(
                f"{field}: {what} names {path}, whose content changed since it was created (sha256 then "
                f"{content_hash[:12]}…, now {found[:12]}…); create a new version to use the new content"
            )
        return target
