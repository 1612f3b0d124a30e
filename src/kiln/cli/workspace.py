"""The CLI's connection to a workspace: one Client per command invocation."""

from __future__ import annotations

from functools import cache

from kiln.client import Client


@cache
def client() -> Client:
    return Client(announce_start=True)
