"""The job-input resolver for remote paths: checked at submit (it exists; file or folder), read when the job starts.

``mode: download`` (the default) gives the job a private copy; ``ro_mount`` a read-only view of the content
read into the workspace's cache (one read per content, shared by jobs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiln.datastores.remote import RemoteData
from kiln.errors import InvalidSpec
from kiln.jobs.inputs import ReadOnlyProvider, expect_pin
from kiln.specs.job import JobInput
from kiln.specs.pins import InputPin, RemotePin
from kiln.specs.remote_paths import is_remote_path

REMOTE_INPUT_TYPES = {"uri_file": "file", "uri_folder": "folder", "mltable": "folder"}


@dataclass
class RemoteInputs:
    remote: RemoteData
    read_only: ReadOnlyProvider

    def accepts(self, item: JobInput) -> bool:
        return item.type in REMOTE_INPUT_TYPES and is_remote_path(item.path)

    def pin(self, name: str, item: JobInput) -> RemotePin:
        if item.mode == "direct":
            raise InvalidSpec(f"inputs.{name}.mode: kiln reads remote data with 'download' or 'ro_mount', not 'direct'")
        kind = self.remote.kind(item.path or "", f"inputs.{name}.path")
        if kind != REMOTE_INPUT_TYPES[item.type]:
            raise InvalidSpec(
                f"inputs.{name}.type: {item.path} is a {kind}, which a {item.type} input cannot read "
                f"(set type: {'uri_file' if kind == 'file' else 'uri_folder'})"
            )
        return RemotePin(path=item.path or "", type=kind)

    def materialize(self, name: str, item: JobInput, pinned: InputPin, target: Path) -> Path:
        remote = expect_pin(pinned, RemotePin, name)
        field = f"inputs.{name}.path"
        if item.mode == "ro_mount":
            snapshot = self.remote.snapshot(remote.path, field)
            self.read_only.provide(snapshot.folder, target)
            return _the_file(target) if remote.type == "file" else target
        return self.remote.download(remote.path, target, field)

    def stored_key(self, name: str, pinned: InputPin) -> str | None:
        return None  # read from its datastore when the job starts


def _the_file(folder: Path) -> Path:
    return next(p for p in folder.iterdir() if p.is_file() or p.is_dir())
