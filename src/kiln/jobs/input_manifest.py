"""An input read through signed URLs instead of copied into the job's folder: its manifest.

Where a job runs on a target that does not share the workspace server's disk (a Ray cluster), none of its stored
inputs (an upload, a stored data asset, a registered model's files, a kept job output) is copied: the job gets a
manifest, ``.kiln_inputs/<input>.json`` in its working directory (which travels with it), listing each file's name,
size and a signed read URL (``kiln.artifacts.signed_urls``) that lasts as long as the job may (``limits.timeout``,
else a day; plus an hour for the cluster's queue). The manifest is the job owner's alone on the server (0600).

- An input its kind reads file by file (``url_inputs`` on the kind's handler: a batch_scoring job's data) stays a
  manifest: ``${{inputs.NAME}}`` is the manifest's path, and the job streams the files itself.
- Any other: the manifest names a folder (``download_to``, ``.kiln_inputs/<input>``) that the job's driver on the
  node (``kiln.runners.ray.entry``) downloads the files into before the command starts; ``${{inputs.NAME}}`` is that
  folder (a ``uri_file`` input: the file in it).

Only what the store holds can be signed; anything else (a datastore path, remote data) is placed as before.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from kiln.artifacts.signed_urls import SignedUrls

MANIFEST_FOLDER = ".kiln_inputs"
MANIFEST_FORMAT = "kiln-input-manifest/1"
DEFAULT_SECONDS = 24 * 3600  # a job without limits.timeout
QUEUE_SECONDS = 3600  # a Ray job may wait in its cluster's queue before limits.timeout starts counting


@dataclass(frozen=True)
class Manifest:
    path: str  # relative to the job's working directory
    names: list[str]  # its files, relative to the signed folder (a single file: its own name)


def url_lifetime(timeout: int | None) -> int:
    return (timeout or DEFAULT_SECONDS) + QUEUE_SECONDS


def download_folder(name: str) -> str:
    """Where the driver on the node downloads input ``name`` (relative to the job's working directory)."""
    return f"{MANIFEST_FOLDER}/{name}"


def write_manifest(
    signed: SignedUrls, name: str, key: str, working_dir: Path, seconds: int, download: bool = False
) -> Manifest:
    """Sign each file of ``key`` and write the manifest (with ``download``: one the driver downloads)."""
    files = signed.files(key, seconds)
    manifest = {
        "format": MANIFEST_FORMAT,
        "input": name,
        "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds)),
        "files": [{"name": f.name, "size": f.size, "url": f.url} for f in files],
    }
    if download:
        manifest["download_to"] = download_folder(name)
    relative = f"{MANIFEST_FOLDER}/{name}.json"
    target = working_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600)  # the URLs read the files: only the job's owner on this machine may see them
    target.write_text(json.dumps(manifest, indent=1))
    return Manifest(relative, [f.name for f in files])
