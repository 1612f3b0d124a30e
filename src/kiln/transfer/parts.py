"""What a capability carries through a workspace's export and import (its components, batch endpoints, schedules…).

A capability declares ``transfer="module:factory"`` (:class:`kiln.capabilities.Capability`); ``factory(service)``,
given the capability's service, returns its :class:`TransferPart` s. The export writes each part's records to the
archive member ``records/kiln/capabilities/<member>.json``; the import plans each record after kiln's own (so a part
may refer to data, environments, models and jobs already planned) and writes it through the part, once the
content-addressed store folders its record names (``upload:…``, ``snapshots/…``) are in the target's store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kiln.transfer.import_plan import State

CAPABILITY_RECORDS = "records/kiln/capabilities"


def capability_records(member: str) -> str:
    """The archive member holding a part's records."""
    return f"{CAPABILITY_RECORDS}/{member}.json"


class TransferPart(Protocol):
    kind: str  # how the import's report and its conflicts name one item: "component version", "schedule"
    member: str  # its records' archive member (capability_records): a name no other part uses

    def export(self) -> list[dict[str, Any]]:
        """Every item of the workspace, as JSON records (``kiln.transfer.rows.row_record`` for rows)."""
        ...

    def label(self, record: dict[str, Any]) -> str:
        """How the report names the item: ``NAME:VERSION``, ``NAME``."""
        ...

    def plan(self, record: dict[str, Any], refused: Mapping[str, set[str]]) -> tuple[State, str]:
        """Whether the target lacks the item (new), holds it (there), holds part of it (partial) or holds something
        else under its name (conflict, with the reason). ``refused``: the labels of the items planned before it
        that conflict, by kind ("registered model": {names}), for an item that needs one of them."""
        ...

    def write(self, record: dict[str, Any]) -> None:
        """Write a new or partial item (its store content is there already); Conflict if made meanwhile."""
        ...

    def note(self) -> str | None:
        """A line for the report when items of this part were imported (what the user should know), or None."""
        ...
