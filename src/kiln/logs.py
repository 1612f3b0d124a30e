"""Following a log that something else writes: the tail loop behind ``kiln job stream`` and build-log follows."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

CHUNK_BYTES = 1 << 20


def follow_log(read: Callable[[int], tuple[bytes, bool]], follow: bool, poll: float = 0.1) -> Iterator[bytes]:
    """The log from its start; with ``follow``, what is written next, until the writer is done.

    ``read(offset)`` gives the bytes from ``offset`` and whether the writer had finished
    before they were read (so nothing written after them is missed)."""
    offset = 0
    while True:
        chunk, done = read(offset)
        offset += len(chunk)
        if chunk:
            yield chunk
        elif done or not follow:
            return
        else:
            time.sleep(poll)


def read_from(path: Path, offset: int) -> bytes:
    """Up to a chunk of the file from ``offset`` (nothing if it cannot be read)."""
    try:
        with path.open("rb") as handle:
            return read_chunk(handle, offset)
    except OSError:
        return b""


def read_chunk(handle: IO[bytes], offset: int) -> bytes:
    handle.seek(offset)
    return handle.read(CHUNK_BYTES)
