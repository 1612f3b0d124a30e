"""Reading a streamed HTTP body as a file (for tar extraction without a temporary file)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any


class StreamReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (for streaming tar extraction)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
