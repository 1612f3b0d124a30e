"""``kiln audit``: who created, changed or deleted what in the workspace, when and from where (owners)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kiln.cli.list_tables import ListTable
from kiln.cli.render import OutputFormat, OutputOption, list_table, print_output, when
from kiln.cli.workspace import client
from kiln.specs.audit import AUDIT_LIST_LIMIT, SINCE_HELP, AuditEntryView


def audit_command(
    since: Annotated[str | None, typer.Option("--since", help=SINCE_HELP + "; default: everything")] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's changes.")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", "-k", help="Only this kind: job, model, data, endpoint, deployment, user…")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Only changes to what has this name.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=AUDIT_LIST_LIMIT, help="At most this many (the newest).")
    ] = AUDIT_LIST_LIMIT,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show who created, changed or deleted what in the workspace, when and from where (owners only)."""
    entries = client().audit.list(since=since, user=user, kind=kind, name=name, limit=limit)
    print_output(entries, output, lambda: audit_table(entries))


def audit_table(entries: list[AuditEntryView]) -> ListTable:
    table = list_table(
        "when", "user", "action", "kind", "name", "version", "from", "detail", no_wrap=("when", "action", "kind")
    )
    for entry in entries:
        detail = json.dumps(entry.detail, separators=(",", ":"), sort_keys=True) if entry.detail else ""
        table.add_row(
            when(entry.at), entry.user, entry.action, entry.kind, entry.name or "", entry.version or "",
            entry.client or "", detail,
        )  # fmt: skip
    return table
