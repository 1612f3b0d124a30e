"""An input read through signed URLs instead of copied into the job's folder: its manifest.

Where a job runs on a target that does not share the workspace server's disk (a Ray cluster) and its kind reads an
input file by file (``url_inputs`` on the kind's handler: a batch_scoring job's data), the input's stored files are
not copied at all: the job gets a manifest, ``.kiln_inputs/<input>.json`` in its working directory (which travels
with it), listing each file's name, size and a signed read URL (``kiln.artifacts.signed_urls``) that lasts as long
as the job may (``limits.timeout``, else a day; plus an hour for the cluster's queue). Only what the store holds can
be signed: an upload or a stored data asset. A reference to remote data (a datastore path) is placed as before.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from kiln.artifacts.signed_urls import SignedUrls
from kiln.specs.pins import DataPin, InputPin, UploadPin

MANIFEST_FOLDER = ".kiln_inputs"
MANIFEST_FORMAT = "kiln-input-manifest/1"
DEFAULT_SECONDS = 24 * 3600  # a job without limits.timeout
QUEUE_SECONDS = 3600  # a Ray job may wait in its cluster's queue before limits.timeout starts counting


def stored_key(pinned: InputPin) -> str | None:
    """The store key of an input kiln keeps itself (an upload, a stored data asset); None for anything else."""
    if isinstance(pinned, UploadPin):
        return pinned.key
    if isinstance(pinned, DataPin) and not pinned.remote:
        return pinned.key
    return None


def url_lifetime(timeout: int | None) -> int:
    return (timeout or DEFAULT_SECONDS) + QUEUE_SECONDS


def write_manifest(signed: SignedUrls, name: str, key: str, working_dir: Path, seconds: int) -> str:
    """Sign each file of ``key`` and write the manifest; the path the job is given (relative to its working dir)."""
    files = signed.files(key, seconds)
    manifest = {
        "format": MANIFEST_FORMAT,
        "input": name,
        "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds)),
        "files": [{"name": f.name, "size": f.size, "url": f.url} for f in files],
    }
    relative = f"{MANIFEST_FOLDER}/{name}.json"
    target = working_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600)  # the URLs read the files: only the job's owner on this machine may see them
    target.write_text(json.dumps(manifest, indent=1))
    return relative
