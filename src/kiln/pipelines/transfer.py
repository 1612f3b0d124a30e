"""Command components through a workspace's export and import (``kiln.transfer.parts``): each version as its row, its
code snapshot carried by the archive's store (``code: upload:<sha256>``), created on the target with its number."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kiln.store.tables import ComponentRow
from kiln.transfer.rows import record_row, row_record

if TYPE_CHECKING:
    from kiln.pipelines.service import PipelineService
    from kiln.store.components import ComponentRepository
    from kiln.transfer.import_plan import State
    from kiln.transfer.parts import TransferPart


class ComponentVersions:
    kind = "component version"
    member = "components"

    def __init__(self, components: ComponentRepository) -> None:
        self._components = components

    def export(self) -> list[dict[str, Any]]:
        return [row_record(row) for row in self._components.all()]

    def label(self, record: dict[str, Any]) -> str:
        return f"{record['name']}:{record['version']}"

    def plan(self, record: dict[str, Any], refused: Mapping[str, set[str]]) -> tuple[State, str]:
        existing = self._components.find(record["name"], record["version"])
        if existing is None:
            return "new", ""
        if (existing.spec, existing.code_hash) == (record["spec"], record.get("code_hash")):
            return "there", ""
        return (
            "conflict",
            f"the target's component {self.label(record)} has another spec or code (versions are immutable)",
        )

    def write(self, record: dict[str, Any]) -> None:
        self._components.add(record_row(ComponentRow, record, id=None))  # numbered here, in the archive's order

    def note(self) -> str | None:
        return None


def transfer_parts(service: PipelineService) -> tuple[TransferPart, ...]:
    return (ComponentVersions(service.components),)
