"""A server's start, step by step: the server logs each step to :data:`START_STEPS_LOGGER` (in its
``server.log``); ``kiln`` commands that start it in the background show those steps while they wait
(:class:`StartSteps`), so a 20-second start is not a silent one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kiln.logs import read_from

START_STEPS_LOGGER = "kiln.start"
_MARK = f" {START_STEPS_LOGGER}: "


class StartSteps:
    """The start steps a server has logged to ``log_file`` since ``offset``, each shown once by ``show``."""

    def __init__(self, log_file: Path, offset: int, show: Callable[[str], None]) -> None:
        self._log_file, self._offset, self._show = log_file, offset, show
        self._partial = b""

    def show_new(self) -> None:
        chunk = read_from(self._log_file, self._offset)
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace")
            if _MARK in text:
                self._show(text.split(_MARK, 1)[1])
