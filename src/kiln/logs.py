"""Logs that something else writes: the tail loop behind ``kiln job stream`` and build-log follows, and the cap
on a job's log (standard library only: the local job shim writes through :class:`CappedLog`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

CHUNK_BYTES = 1 << 20
DEFAULT_JOB_LOG_LIMIT_BYTES = 100 << 20
LOG_LIMIT_SETTING = "job_log_limit_bytes (KILN_JOB_LOG_LIMIT_BYTES)"


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


def truncation_note(limit: int) -> bytes:
    """The line that ends a log cut at ``limit`` bytes."""
    return (
        f"\n[kiln] this log reached its limit of {limit} bytes ({LOG_LIMIT_SETTING}); "
        "what the job wrote after this point was not kept\n"
    ).encode()


class CappedLog:
    """Writes to ``raw`` until the file holds ``limit`` bytes, then one truncation note; the rest is dropped
    (and still accepted, so the job's pipes are drained and it never blocks on a full log)."""

    def __init__(self, raw: BinaryIO, limit: int, already: int = 0) -> None:
        self._raw = raw
        self._limit = limit
        self._written = already
        self._noted = already > limit

    def write(self, data: bytes) -> int:
        room = self._limit - self._written
        if room > 0:
            kept = data[:room]
            self._raw.write(kept)
            self._written += len(kept)
        if len(data) > max(room, 0) and not self._noted:
            self._raw.write(truncation_note(self._limit))
            self._noted = True
        return len(data)

    def flush(self) -> None:
        self._raw.flush()


def cap_log_file(path: Path, limit: int) -> bool:
    """Cut a log file longer than ``limit`` bytes there, with the truncation note; True if it was cut."""
    try:
        if path.stat().st_size <= limit:
            return False
        with path.open("r+b") as handle:
            handle.truncate(limit)
            handle.seek(limit)
            handle.write(truncation_note(limit))
    except OSError:
        return False
    return True
