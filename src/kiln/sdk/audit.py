"""``Client().audit``: the workspace's audit log (owners only): who changed what, when, from where."""

from __future__ import annotations

import builtins

from kiln import api
from kiln.sdk.rest import RestClient
from kiln.specs.audit import AUDIT_LIST_LIMIT, AuditEntryView


class AuditOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def list(
        self, since: str | None = None, user: str | None = None, kind: str | None = None, name: str | None = None,
        limit: int = AUDIT_LIST_LIMIT,
    ) -> builtins.list[AuditEntryView]:  # fmt: skip
        """The changes that match, oldest first (the newest ``limit`` of them). ``since``: ``30m``, ``12h``,
        ``1d``, ``2w`` or an ISO time; ``kind``: job, model, data, environment, endpoint, deployment, user…"""
        given = {"since": since, "user": user, "kind": kind, "name": name}
        params = {key: value for key, value in given.items() if value}
        return self._rest.call(api.audit.LIST, params={**params, "limit": limit})
