"""Files sent by a client at submit time (code folders, local inputs), stored by content, and read as job inputs."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kiln.artifacts.references import is_inside, join_key, parse_upload, regular_files
from kiln.artifacts.store import ArtifactStore, extract_tar_safely
from kiln.errors import InvalidSpec
from kiln.jobs.inputs import expect_pin
from kiln.specs.job import UPLOAD_PREFIX, JobInput
from kiln.specs.pins import InputPin, UploadPin
from kiln.specs.views import UploadView

SNAPSHOTS = "snapshots"


class UploadService:
    def __init__(self, store: ArtifactStore, scratch: Path) -> None:
        self._store = store
        self._scratch = scratch

    def receive(self, archive: IO[bytes], kind: str) -> UploadView:
        """Unpack a tar from the client and keep it under its content hash."""
        if kind not in ("folder", "file"):
            raise InvalidSpec(f"upload kind must be 'folder' or 'file', not {kind!r}")
        self._scratch.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self._scratch, prefix="upload-"))
        try:
            try:
                extract_tar_safely(archive, staging)
            except (tarfile.TarError, OSError) as exc:
                raise InvalidSpec(f"the upload is not a readable tar archive: {exc}") from exc
            _replace_links_by_files(staging)
            entries = list(staging.iterdir())
            if kind == "file" and (len(entries) != 1 or not entries[0].is_file()):
                raise InvalidSpec("a file upload must hold exactly one file")
            digest = self._store.put_content_addressed(staging, SNAPSHOTS)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        reference = f"{UPLOAD_PREFIX}{digest}" + (f"/{entries[0].name}" if kind == "file" else "")
        return UploadView(reference=reference, kind=kind, content_hash=digest)

    def resolve(self, reference: str, field: str) -> tuple[str, str]:
        """The store key and content hash behind ``upload:<hash>[/file]``; an error names ``field``."""
        upload = parse_upload(reference, field)  # nothing outside the upload: the resolver refuses it
        key = join_key(f"{SNAPSHOTS}/{upload.digest}", upload.path, field)
        if not (self._store.has_content(SNAPSHOTS, upload.digest) and self._store.exists(key)):
            raise InvalidSpec(f"{field}: upload {reference!r} was not found in the workspace")
        return key, upload.digest


def _replace_links_by_files(staging: Path) -> None:
    """An upload keeps files, not links: a link to a file of the same upload becomes a copy of that file
    (what the client meant); any other link is dropped (the tar filter already refused links leading out)."""
    links = [(link, link.resolve()) for link in regular_files(staging)[1]]
    kept = [(link, target) for link, target in links if is_inside(staging, target) and target.is_file()]
    copies: list[tuple[Path, Path]] = []
    for link, target in kept:  # copied aside first: a link may lead to another link
        copy = staging.parent / f"{staging.name}-copy-{len(copies)}"
        shutil.copyfile(target, copy)
        copies.append((link, copy))
    for link, _target in links:
        link.unlink()
    for link, copy in copies:
        copy.replace(link)


@dataclass
class UploadedInputs:
    """The job-input resolver for files and folders that the CLI/SDK uploaded from the submitting machine."""

    uploads: UploadService
    store: ArtifactStore

    def accepts(self, item: JobInput) -> bool:
        return bool(item.path and item.path.startswith(UPLOAD_PREFIX))

    def pin(self, name: str, item: JobInput) -> UploadPin:
        key, digest = self.uploads.resolve(item.path or "", f"inputs.{name}.path")
        return UploadPin(key=key, content_hash=digest)

    def materialize(self, name: str, item: JobInput, pinned: InputPin, target: Path) -> Path:
        key = expect_pin(pinned, UploadPin, name).key
        if item.type == "uri_file":
            target = target / key.rsplit("/", 1)[-1]
        self.store.get(key, target)
        return target

    def stored_key(self, name: str, pinned: InputPin) -> str | None:
        return expect_pin(pinned, UploadPin, name).key
