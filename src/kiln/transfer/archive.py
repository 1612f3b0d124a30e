"""The export archive: a tar with its manifest first and the checksums of every member last.

Everything lies under one top folder, ``kiln-workspace/``::

    manifest.json                    format version, kiln and MLflow versions, counts, what was left out
    records/kiln/<kind>.json         kiln's rows: jobs, data asset versions, environments, endpoints, store keys
    records/kiln/capabilities/…      the capabilities' records (parts.py): components, batch-endpoints, schedules
    records/mlflow/…                 experiments.json, runs/<id>.json, metrics/<run id>.json (every value),
                                     logged-models/<id>.json, registered-models.json (MLflow's REST JSON)
    store/<key>/…                    artifact-store content the rows point to
    mlflow/runs/<run id>/…           run artifacts
    mlflow/logged-models/<id>/…      logged model artifacts
    checksums.json                   sha256 and size of every member above

The server writes a plain tar (members are streamed: a file is never held in memory) and
the client gzips it; readers accept both. An archive without ``checksums.json`` at its end,
or with a member that does not match it, is refused before anything is imported.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
import zlib
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from kiln.errors import InvalidSpec

FORMAT = "kiln-workspace"
FORMAT_VERSION = 1
TOP = "kiln-workspace"
MANIFEST = "manifest.json"
CHECKSUMS = "checksums.json"
BLOCK = 512
CHUNK = 1 << 20


class Manifest(BaseModel):
    format: Literal["kiln-workspace"] = "kiln-workspace"
    format_version: int = FORMAT_VERSION
    kiln_version: str
    mlflow_version: str
    created_at: datetime
    include_endpoints: bool = False
    counts: dict[str, int] = Field(default_factory=dict, description="how many of each kind the archive holds")
    left_out: list[str] = Field(default_factory=list, description="what was not exported, and why")


class ArchiveWriter:
    """Produces the tar's bytes member by member; each ``add_*`` yields them as they are made."""

    def __init__(self) -> None:
        self._checksums: dict[str, dict[str, Any]] = {}

    def add_json(self, name: str, data: Any) -> Iterator[bytes]:
        yield from self._member(name, *_json_body(data))

    def add_stream(self, name: str, handle: IO[bytes], size: int) -> Iterator[bytes]:
        yield from self._member(name, size, iter(lambda: handle.read(CHUNK), b""))

    def add_folder(self, name: str, folder: Path) -> Iterator[bytes]:
        """Every file below ``folder`` as ``name/<relative path>``."""
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            with file.open("rb") as handle:
                yield from self.add_stream(f"{name}/{file.relative_to(folder).as_posix()}", handle, file.stat().st_size)

    def finish(self) -> Iterator[bytes]:
        """The checksums member, then the two empty blocks that end a tar."""
        yield from self._member(CHECKSUMS, *_json_body({"members": self._checksums}))
        yield b"\0" * (2 * BLOCK)

    def _member(self, name: str, size: int, chunks: Iterator[bytes]) -> Iterator[bytes]:
        info = tarfile.TarInfo(f"{TOP}/{name}")
        info.size, info.mode, info.mtime = size, 0o644, int(time.time())
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        digest, written = hashlib.sha256(), 0
        for chunk in chunks:
            written += len(chunk)
            if written > size:
                raise OSError(f"{name} grew while it was being exported")
            digest.update(chunk)
            yield chunk
        if written != size:
            raise OSError(f"{name} changed size while it was being exported ({size} bytes expected, {written} read)")
        yield b"\0" * (-size % BLOCK)
        self._checksums[name] = {"sha256": digest.hexdigest(), "size": size}


def _json_body(data: Any) -> tuple[int, Iterator[bytes]]:
    body = json.dumps(data, indent=1, sort_keys=True).encode()
    return len(body), iter([body])


class _Refused(Exception):
    """Why an archive is refused, as words that follow its name."""


def unpack(archive: IO[bytes], dest: Path | None, label: str) -> Manifest:
    """Extract a (gzipped) archive into ``dest`` (or only read it, with None), checking its
    manifest and every checksum.

    Raises InvalidSpec naming ``label`` (the archive as the user knows it) if the archive is
    not one, is from a newer format, is truncated, or any member differs from its checksum.
    """
    try:
        return _unpack(archive, dest)
    except _Refused as refused:
        raise InvalidSpec(f"{label} {refused}; nothing was imported") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise InvalidSpec(
            f"{label} is truncated or corrupt ({type(exc).__name__}: {exc}); nothing was imported. "
            "Export the workspace again (kiln workspace export --to FILE) and import the new file"
        ) from None


def _unpack(archive: IO[bytes], dest: Path | None) -> Manifest:
    manifest: Manifest | None = None
    found: dict[str, dict[str, Any]] = {}
    checksums: dict[str, Any] | None = None
    with tarfile.open(fileobj=archive, mode="r|*") as tar:
        for member in tar:
            name = _member_name(member)
            if name is None:
                continue
            if checksums is not None:
                raise _Refused(f"is corrupt: member {name} comes after {CHECKSUMS}, which must be last")
            if manifest is None and name != MANIFEST:
                raise _Refused(f"is not a kiln workspace export: its first member is not {TOP}/{MANIFEST}")
            handle = tar.extractfile(member)
            if handle is None:
                raise _Refused(f"is corrupt: member {name} cannot be read")
            if name in (MANIFEST, CHECKSUMS):
                body = handle.read()
                found[name] = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
                if name == MANIFEST:
                    manifest = _manifest(body)
                else:
                    checksums = _checksums(body)
                continue
            found[name] = _extract(handle, dest / name if dest else None)
    if manifest is None:
        raise _Refused("is empty or not a tar archive")
    if checksums is None:
        raise _Refused(f"ends before its {CHECKSUMS}: the file is truncated or corrupt (an export cut short?)")
    _compare(found, checksums)
    return manifest


def _member_name(member: tarfile.TarInfo) -> str | None:
    """The member's name below the top folder; folders are skipped, links and odd names refused."""
    path = PurePosixPath(member.name)
    if member.isdir():
        return None
    if not member.isfile() or path.is_absolute() or ".." in path.parts or path.parts[:1] != (TOP,):
        raise _Refused(f"is not a kiln workspace export: member {member.name!r} is not a file inside {TOP}/")
    return path.relative_to(TOP).as_posix()


def _extract(handle: IO[bytes], target: Path | None) -> dict[str, Any]:
    """Copy a member to ``target`` (or nowhere), hashing it on the way."""
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with target.open("wb") if target is not None else nullcontext() as out:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


def _manifest(body: bytes) -> Manifest:
    try:
        data = json.loads(body)
    except ValueError:
        raise _Refused(f"is corrupt or not a kiln workspace export: its {MANIFEST} is not readable JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _Refused(f"is not a kiln workspace export: its {MANIFEST} names no format {FORMAT!r}")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise _Refused(
            f"was written by kiln {data.get('kiln_version', '?')} in export format {version}; this kiln reads "
            f"format {FORMAT_VERSION} and older: upgrade kiln on this server to import it"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise _Refused(f"is corrupt: its {MANIFEST} is not valid ({exc.errors()[0]['msg']})") from None


def _checksums(body: bytes) -> dict[str, Any]:
    try:
        members = json.loads(body)["members"]
    except (ValueError, KeyError, TypeError):
        members = None
    if not isinstance(members, dict):
        raise _Refused(f"is corrupt: its {CHECKSUMS} is not readable")
    return members


def _compare(found: dict[str, dict[str, Any]], expected: dict[str, Any]) -> None:
    found = {name: sums for name, sums in found.items() if name != CHECKSUMS}
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(name for name in set(found) & set(expected) if found[name] != expected[name])
    problems = (
        [f"missing: {', '.join(missing[:5])}"] * bool(missing)
        + [f"not listed in {CHECKSUMS}: {', '.join(extra[:5])}"] * bool(extra)
        + [f"content differs from its checksum: {', '.join(changed[:5])}"] * bool(changed)
    )
    if problems:
        raise _Refused(f"is corrupt ({'; '.join(problems)})")


def read_manifest(path: Path) -> Manifest:
    """The manifest of an archive file (its first member), without reading the rest."""
    with path.open("rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None and member.name == f"{TOP}/{MANIFEST}":
                try:
                    return _manifest(handle.read())
                except _Refused as refused:
                    raise InvalidSpec(f"{path} {refused}") from None
            break
    raise InvalidSpec(f"{path} is not a kiln workspace export (no {TOP}/{MANIFEST} at its start)")
