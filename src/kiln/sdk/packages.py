"""Packages made on the server (``kiln.packaging``: build contexts, manifests, Triton repositories), unpacked into a
local folder: one that exists and holds anything is refused unless the caller says to write over it."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from kiln.api.operation import Operation
from kiln.errors import InvalidSpec
from kiln.sdk.rest import RestClient
from kiln.sdk.stream_reader import StreamReader


def checked_output(output: str | Path, overwrite: bool) -> Path:
    """``output`` as a folder to unpack into: refused when it is a file, or a folder with anything in it
    (unless ``overwrite``: then same-named files are replaced, others left as they are)."""
    target = Path(output)
    if target.exists() and not target.is_dir():
        raise InvalidSpec(f"--output {output}: it is a file, not a folder; name a new or empty folder")
    if target.is_dir() and not overwrite and any(target.iterdir()):
        raise InvalidSpec(
            f"--output {output}: the folder exists and is not empty; name a new or empty folder, or pass "
            "--overwrite (overwrite=True) to write over the files it holds"
        )
    return target


def unpack(
    rest: RestClient,
    operation: Operation[Any],
    target: Path,
    params: dict[str, Any],
    **path: str | int,
) -> Path:
    """Send ``operation`` and unpack its gzip tar into ``target`` (checked by ``checked_output`` first)."""
    query = {key: value for key, value in params.items() if value is not None}
    with rest.stream(operation, params=query, **path) as response:
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=StreamReader(response.iter_bytes()), mode="r|gz") as tar:
            tar.extractall(target, filter="data")  # nothing outside target, no links out, no devices
    return target
