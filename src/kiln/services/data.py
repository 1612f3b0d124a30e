"""Data assets: immutable, content-addressed versions of files and folders, and the job inputs that read them.

A version's content is copied from the client's upload into the artifact store under
``data/<sha256 tree hash>``, then its row is written, so a row never points at missing
content. Re-creating a name+version with the same content is a no-op; other content is
refused (a version never changes). Jobs name versions as ``kiln:NAME:VERSION`` or
``kiln:NAME@latest`` (``azureml:`` too); ``@latest`` is pinned to an exact version at submit.
"""

from __future__ import annotations

import builtins
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kiln import mltable
from kiln.artifacts.store import ArtifactStore
from kiln.clock import utcnow
from kiln.errors import AlreadyExists, Conflict, Forbidden, InvalidSpec, NotFound
from kiln.jobs.inputs import ReadOnlyProvider, expect_pin
from kiln.services import data_preview
from kiln.services.uploads import SNAPSHOTS, UploadService
from kiln.specs.data import LATEST, DataAssetView, DataSpec
from kiln.specs.job import JobInput
from kiln.specs.pins import DataPin, InputPin
from kiln.specs.references import AssetReference, is_asset_reference, parse_asset_reference
from kiln.specs.remote_paths import is_remote_path
from kiln.specs.roles import Role
from kiln.store.data import DataAssetRepository
from kiln.store.tables import DataAssetRow

if TYPE_CHECKING:
    from kiln.datastores.remote import RemoteData

DATA_PREFIX = "data"
DATA_INPUT_TYPES = ("uri_file", "uri_folder", "mltable")
# input type -> asset types it can read
READABLE_AS = {"uri_file": ("uri_file",), "uri_folder": ("uri_folder", "mltable"), "mltable": ("mltable",)}
RAW_READER = Role.OWNER  # who may read a private version's rows (kiln.privacy)
# a check of a private version's spec against its stored content, before its row is written (kiln.privacy's)
PrivateVersionCheck = Callable[[DataSpec, Path], None]


def ensure_raw_access(row: DataAssetRow, role: Role | None, action: str) -> None:
    """Forbidden unless ``role`` may read the rows of ``row`` (every version but private ones: anyone)."""
    if row.privacy is not None and (role is None or not role.allows(RAW_READER)):
        who = f"a {role.value}" if role is not None else "not known to be an owner"
        raise Forbidden(
            f"data asset '{row.name}' version '{row.version}' is private: {action} needs {RAW_READER.and_above()} "
            f"(the caller is {who}); query it with kiln privacy query, or synthesise data from it"
        )


@dataclass(frozen=True)
class StoredContent:
    content_hash: str
    files: int
    size_bytes: int


@dataclass
class DataService:
    assets: DataAssetRepository
    uploads: UploadService
    store: ArtifactStore
    remote: RemoteData | None = None  # remote paths (kiln.datastores); None: refused
    private_version_check: PrivateVersionCheck | None = None  # kiln.privacy's; None: private versions refused

    # Creating ----------------------------------------------------------------------------
    def create(self, spec: DataSpec, created_by: str | None = None) -> DataAssetView:
        """Store the uploaded content under its hash, then record the version (or find it recorded).
        A remote path is recorded with the hash of what was read, not copied (``_create_reference``)."""
        if is_remote_path(spec.path):
            return self._create_reference(spec, created_by)
        key, digest = self.uploads.resolve(spec.path, "path")
        folder_key = f"{SNAPSHOTS}/{digest}"
        is_file = key != folder_key
        if (spec.type == "uri_file") != is_file:
            wanted = "a file" if spec.type == "uri_file" else "a folder"
            raise InvalidSpec(f"path: a {spec.type} data asset needs {wanted}, and {spec.path!r} is not one")
        if spec.version is not None and (existing := self.assets.find(spec.name, spec.version)):
            return self._same_or_refuse(existing, spec, digest)
        with self.store.local_view(folder_key) as folder:  # not copied when the store is local
            if spec.privacy is not None:
                self._check_private(spec, folder / key.removeprefix(folder_key).lstrip("/") if is_file else folder)
            if spec.type == "mltable":
                try:
                    mltable.parse(folder, label=mltable.MLTABLE_FILE)
                except InvalidSpec as exc:
                    raise InvalidSpec(f"path: not a valid mltable: {exc.message}") from None
            files = [p for p in folder.rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files)
            content_hash = self.store.put_content_addressed(folder, DATA_PREFIX)
        return self._record(spec, content_hash, f"{DATA_PREFIX}/{content_hash}", len(files), size, created_by)

    def _create_reference(self, spec: DataSpec, created_by: str | None) -> DataAssetView:
        """Azure's reference semantics: the path is recorded with the hash of its content as read now."""
        if self.remote is None:
            raise InvalidSpec(f"path: this workspace does not read remote data ({spec.path!r})")
        snapshot = self.remote.snapshot(spec.path, "path")
        if spec.privacy is not None:
            raise InvalidSpec(f"privacy: a private version keeps its rows in kiln; {spec.path!r} is remote data")
        if (spec.type == "uri_file") != (snapshot.kind == "file"):
            wanted = "a file" if spec.type == "uri_file" else "a folder"
            raise InvalidSpec(f"path: a {spec.type} data asset needs {wanted}, and {spec.path!r} is a {snapshot.kind}")
        if spec.type == "mltable":
            try:
                mltable.parse(snapshot.folder, label=mltable.MLTABLE_FILE)
            except InvalidSpec as exc:
                raise InvalidSpec(f"path: not a valid mltable: {exc.message}") from None
        if spec.version is not None and (existing := self.assets.find(spec.name, spec.version)):
            return self._same_or_refuse(existing, spec, snapshot.content_hash)
        return self._record(
            spec, snapshot.content_hash, "", snapshot.files, snapshot.size_bytes, created_by, remote_path=spec.path
        )

    def _record(
        self, spec: DataSpec, content_hash: str, store_key: str, files: int, size: int, created_by: str | None,
        remote_path: str | None = None,
    ) -> DataAssetView:  # fmt: skip
        for _attempt in range(10):
            version = spec.version or self._next_version(spec.name)
            row = DataAssetRow(
                name=spec.name, version=version, type=spec.type, content_hash=content_hash,
                store_key=store_key, description=spec.description,
                tags={str(k): v for k, v in spec.tags.items()}, files=files, size_bytes=size,
                created_at=utcnow(), archived=False, created_by=created_by, remote_path=remote_path,
                privacy=spec.privacy.model_dump(mode="json") if spec.privacy is not None else None,
            )  # fmt: skip
            if self.assets.add(row):
                return self._view(row)
            if spec.version is not None and (existing := self.assets.find(spec.name, spec.version)):
                return self._same_or_refuse(existing, spec, content_hash)
        raise Conflict(f"data asset '{spec.name}': other versions were being created at the same time; try again")

    def store_made(self, folder: Path) -> StoredContent:
        """Content the server made (kiln privacy's synthetic data) put in the store under its hash; it is not a
        version until :meth:`record_made` records it."""
        files = [p for p in folder.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        return StoredContent(self.store.put_content_addressed(folder, DATA_PREFIX), len(files), size)

    def record_made(self, spec: DataSpec, stored: StoredContent, created_by: str | None) -> DataAssetView:
        """Record a version of content :meth:`store_made` stored (a version that exists: the same or refused)."""
        if spec.version is not None and (existing := self.assets.find(spec.name, spec.version)):
            return self._same_or_refuse(existing, spec, stored.content_hash)
        key = f"{DATA_PREFIX}/{stored.content_hash}"
        return self._record(spec, stored.content_hash, key, stored.files, stored.size_bytes, created_by)

    def _check_private(self, spec: DataSpec, content: Path) -> None:
        if self.private_version_check is None:
            raise InvalidSpec("privacy: this workspace has no privacy capability loaded; private versions are refused")
        self.private_version_check(spec, content)

    def _same_or_refuse(self, existing: DataAssetRow, spec: DataSpec, digest: str) -> DataAssetView:
        privacy = spec.privacy.model_dump(mode="json") if spec.privacy is not None else None
        if existing.content_hash == digest and existing.type == spec.type and existing.privacy == privacy:
            return self._view(existing)
        what = (
            f"other content (stored sha256 {existing.content_hash[:12]}…, yours {digest[:12]}…)"
            if existing.content_hash != digest
            else f"type {existing.type} (yours: {spec.type})"
            if existing.type != spec.type
            else "another privacy declaration (a version's budget never changes)"
        )
        raise AlreadyExists(
            f"data asset '{existing.name}' version '{existing.version}' already exists with {what}; a version never "
            f"changes: create a new version (another --version, or leave the version out for the next number)"
        )

    def _next_version(self, name: str) -> str:
        numbers = [int(row.version) for row in self.assets.versions(name) if row.version.isdigit()]
        return str(max(numbers, default=0) + 1)

    # Reading -----------------------------------------------------------------------------
    def get(self, name: str, version: str | None = None) -> DataAssetView:
        return self._view(self.row(name, version))

    def row(self, name: str, version: str | None = None) -> DataAssetRow:
        """One version (``None`` or ``latest``: the newest that is not archived); NotFound says what exists."""
        if version is None or version == LATEST:
            row = self.assets.latest(name)
        else:
            row = self.assets.find(name, version)
        if row is None:
            raise NotFound(self._missing(name, version))
        return row

    def _missing(self, name: str, version: str | None) -> str:
        versions = self.assets.versions(name)
        if not versions:
            names = self.assets.names()
            known = ", ".join(names[:20]) + (" …" if len(names) > 20 else "") if names else "none yet"
            return f"there is no data asset named '{name}' (data assets: {known})"
        if version is None or version == LATEST:
            return f"every version of data asset '{name}' is archived (kiln data restore brings one back)"
        listed = ", ".join(r.version + (" (archived)" if r.archived else "") for r in versions[:20])
        return f"data asset '{name}' has no version '{version}' (versions, newest first: {listed})"

    def list(self, name: str | None = None, include_archived: bool = False) -> builtins.list[DataAssetView]:
        """Latest version of every asset, or with ``name`` every version of it (newest first)."""
        if name is None:
            rows = self.assets.latest_of_each(include_archived)
        else:
            rows = self.assets.versions(name, include_archived)
            if not rows and not self.assets.versions(name):
                raise NotFound(self._missing(name, None))
        return [self._view(row) for row in rows]

    def set_archived(self, name: str, version: str | None, archived: bool) -> builtins.list[DataAssetView]:
        """Archive (hide from listings and ``@latest``) or restore one version, or all of them."""
        if version is not None:
            self.row(name, version)  # NotFound with what exists
        if not self.assets.set_archived(name, version, archived):
            raise NotFound(self._missing(name, version))
        rows = self.assets.versions(name) if version is None else [self.row(name, version)]
        return [self._view(row) for row in rows]

    def content_archive(self, name: str, version: str | None, role: Role | None) -> tuple[str, Iterator[bytes]]:
        """The version's content as an uncompressed tar whose top folder is the asset's name (a private
        version's for owners only)."""
        row = self.row(name, version)
        ensure_raw_access(row, role, "downloading its content")
        if row.remote_path:
            raise InvalidSpec(
                f"data asset '{row.name}' version '{row.version}' is a reference to {row.remote_path}; read it there"
            )
        return row.name, self.store.iter_tar(row.store_key, row.name)

    def preview(
        self, name: str, version: str | None, role: Role | None, limit: int = data_preview.ROWS
    ) -> data_preview.DataPreview:
        """The first rows of the version (CSV, Parquet, MLTable), or its files for a folder (kiln studio); a
        private version's rows for owners only."""
        row = self.row(name, version)
        ensure_raw_access(row, role, "previewing its rows")
        return data_preview.preview(self.store, row, limit)

    @staticmethod
    def _view(row: DataAssetRow) -> DataAssetView:
        return DataAssetView(
            name=row.name, version=row.version, type=row.type, content_hash=row.content_hash,
            description=row.description, tags=dict(row.tags or {}), created_at=row.created_at,
            archived=row.archived, files=row.files, size_bytes=row.size_bytes, created_by=row.created_by,
            remote_path=row.remote_path, privacy=row.privacy,
        )  # fmt: skip

    # Job inputs --------------------------------------------------------------------------
    def for_input(self, reference: AssetReference, field: str) -> DataAssetRow:
        """The version a job input names; InvalidSpec naming ``field`` when it names nothing."""
        if reference.version is None and reference.label != LATEST:
            raise InvalidSpec(f"{field}: data assets have no label '@{reference.label}'; use @latest or :VERSION")
        try:
            return self.row(reference.name, reference.version)
        except NotFound as exc:
            raise InvalidSpec(f"{field}: {exc.message}") from None


@dataclass
class DataInputs:
    """The job-input resolver for ``kiln:NAME:VERSION`` / ``kiln:NAME@latest`` (and ``azureml:``)."""

    data: DataService
    store: ArtifactStore
    read_only: ReadOnlyProvider  # ro_mount inputs (the local runner's read-only mounts)
    cache: Path
    remote: RemoteData | None = None  # data assets that are references to remote data

    def accepts(self, item: JobInput) -> bool:
        return item.type in DATA_INPUT_TYPES and is_asset_reference(item.path)

    def pin(self, name: str, item: JobInput) -> DataPin:
        field = f"inputs.{name}.path"
        reference = parse_asset_reference(item.path or "", field)
        if item.mode == "direct":
            raise InvalidSpec(f"inputs.{name}.mode: a data asset is read with 'ro_mount' or 'download', not 'direct'")
        row = self.data.for_input(reference, field)
        if row.type not in READABLE_AS[item.type]:
            raise InvalidSpec(
                f"inputs.{name}.type: {item.type} cannot read data asset {row.name}:{row.version}, "
                f"which is a {row.type} (set type: {row.type})"
            )
        pinned = DataPin(
            reference=item.path, name=row.name, version=row.version, type=row.type,
            content_hash=row.content_hash, key=row.store_key,
        )  # fmt: skip
        if row.privacy is not None:
            pinned.private = True  # JobService lets owners alone read it (ensure_private_inputs_readable)
        if row.remote_path:
            pinned.remote = row.remote_path
            if row.type == "uri_file":
                pinned.file = PurePosixPath(urlsplit(row.remote_path).path).name
        elif row.type == "uri_file":
            pinned.file = self.store.list_files(row.store_key)[0]
        return pinned

    def materialize(self, name: str, item: JobInput, pinned: InputPin, target: Path) -> Path:
        data = expect_pin(pinned, DataPin, name)
        if data.remote:
            return self._materialize_reference(name, item, data, target)
        if item.mode == "ro_mount":
            self.read_only.provide(self._local_content(data.key, data.content_hash), target)
        else:  # download (the default): a private, writable copy
            self.store.get(data.key, target)
        return target / data.file if data.file else target

    def stored_key(self, name: str, pinned: InputPin) -> str | None:
        data = expect_pin(pinned, DataPin, name)
        return None if data.remote else data.key

    def _materialize_reference(self, name: str, item: JobInput, data: DataPin, target: Path) -> Path:
        if self.remote is None or data.remote is None:
            raise InvalidSpec(f"inputs.{name}.path: this workspace does not read remote data ({data.remote!r})")
        what, field = f"data asset {data.name}:{data.version}", f"inputs.{name}.path"
        if item.mode == "ro_mount":  # served from the cache: the content as it was read at create
            self.read_only.provide(self.remote.pinned(data.remote, data.content_hash, what, field), target)
        else:
            self.remote.download_pinned(data.remote, data.content_hash, target, what, field)
        return target / data.file if data.file else target

    def _local_content(self, key: str, content_hash: str) -> Path:
        """The stored folder itself for a local store; else one download per content, shared by jobs."""
        local = self.store.local_path(key)
        if local is not None:
            return local
        cached = self.cache / content_hash
        if not cached.exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            partial = self.cache / f".partial-{uuid.uuid4().hex}"
            self.store.get(key, partial)
            try:
                partial.rename(cached)
            except OSError:  # another job cached the same content first
                shutil.rmtree(partial, ignore_errors=True)
        return cached
