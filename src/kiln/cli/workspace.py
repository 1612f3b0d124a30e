"""The CLI's connection to a workspace: one Client per command invocation."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiln.client import Client


@cache
def client() -> Client:
    from kiln.client import Client  # imported by the commands that reach a workspace, not by `kiln --help`

    return Client(announce_start=True)
