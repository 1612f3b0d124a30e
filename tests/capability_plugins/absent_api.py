"""The absent-test plug-in's one operation (declared whether or not its extra is installed)."""

from __future__ import annotations

from kiln.api.operation import Operation
from kiln.specs.users import Role

PING = Operation(
    "absent-test.ping", "GET", "/api/v1/absent-test/ping", summary="Never answered without the extra",
    role=Role.READER, action="pinging", response=dict,
)  # fmt: skip
