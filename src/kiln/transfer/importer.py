"""The import: unpack and check the archive, plan, refuse conflicts before writing anything,
then write item by item (each one whole, or marked so that the next import writes it again).

Running the same import twice is safe: what is there already is recognized and skipped.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, KilnError
from kiln.tracking.mlflow_secret import send_with_mlflow_client
from kiln.tracking.mlflow_store import mlflow_store_uri
from kiln.transfer.archive import unpack
from kiln.transfer.import_plan import LEDGER, WRITES, ImportPlanner, PlannedItem
from kiln.transfer.kiln_writer import KilnWriter
from kiln.transfer.mlflow_ids import MlflowIdWriter
from kiln.transfer.mlflow_writer import MlflowWriter
from kiln.transfer.report import ImportReport, OnConflict, ProgressEvent, ResultEvent
from kiln.transfer.unpacked import UnpackedArchive

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from kiln.transfer.parts import TransferPart
    from kiln.transfer.sources import TransferSources

log = logging.getLogger(__name__)
LISTED_CONFLICTS = 10
ENVIRONMENTS_NOTE = (
    "environments were registered again from their specs and are built on this server in the background "
    "(kiln environment list shows their status); jobs keep the exact packages they ran with"
)
LEDGER_NOTE = (
    "privacy ledgers came with their private versions: each budget as spent in the source and every charge (who, "
    "when, what, epsilon, delta), numbered anew on this server (tags that cite a charge number, kiln.privacy.charge "
    "of a synthetic version and privacy.charges of a model, keep the source's numbers)"
)
KEYS_NOTE = (
    "endpoint keys are new on this server (keys derive from a secret that stays with the old workspace): "
    "kiln online-endpoint get-credentials -n NAME shows them"
)


class WorkspaceImporter:
    def __init__(self, sources: TransferSources) -> None:
        from mlflow.tracking import MlflowClient

        self._sources = sources
        send_with_mlflow_client()  # to the workspace's own MLflow child (installed at first use, not at start)
        tracking_uri = sources.mlflow_url
        self._tracking_uri = tracking_uri
        self._client: MlflowClient = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def scratch(self) -> Path:
        """A fresh folder on the server's own disk for one import (the archive and its unpacked
        members). Imports run one at a time, so any other folder there is left by a server that
        was killed during an import: removed."""
        imports = self._sources.settings.resolved_home / "tmp" / "imports"
        for leftover in imports.glob("*"):
            shutil.rmtree(leftover, ignore_errors=True)
        folder = imports / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def prepare(self, scratch: Path, archive_file: Path, label: str, on_conflict: OnConflict) -> Prepared:
        """Unpack and check the archive and plan the import; Conflict (nothing written) when the
        target holds different objects under the archive's names and ``on_conflict`` is fail."""
        with archive_file.open("rb") as handle:
            manifest = unpack(handle, scratch / "archive", label)
        archive_file.unlink()
        archive = UnpackedArchive(scratch / "archive", manifest, label)
        items = ImportPlanner(self._sources, self._client).plan(archive)
        conflicts = [item for item in items if item.state == "conflict"]
        if conflicts and on_conflict == "fail":
            raise Conflict(_conflict_message(conflicts))
        return Prepared(archive, items)

    def apply(self, prepared: Prepared) -> Iterator[ProgressEvent | ResultEvent]:
        """Write what the plan found missing; progress after each item, then the report."""
        archive, items = prepared.archive, prepared.items
        report = _skipped_report(prepared, self._sources.parts)
        writes = [item for item in items if item.state in WRITES]
        current: PlannedItem | None = None
        try:
            ids = MlflowIdWriter(mlflow_store_uri(self._sources.settings))
            mlflow = MlflowWriter(self._client, self._tracking_uri, ids, archive)
            kiln = KilnWriter(self._sources, archive)
            mlflow.experiments()
            for done, item in enumerate(writes, start=1):
                current = item
                self._write(item, mlflow, kiln)
                report.of(item.kind).imported.append(item.label)
                yield ProgressEvent(done=done, total=len(writes), item=f"{item.kind} {item.label}")
            report.complete = True
        except Exception as exc:
            if not isinstance(exc, KilnError):
                log.exception("import of %s stopped", archive.label)
            report.error = exc.message if isinstance(exc, KilnError) else f"{type(exc).__name__}: {exc}"
            report.stopped_at = f"{current.kind} {current.label}" if current else "the start"
        finally:
            shutil.rmtree(archive.root.parent, ignore_errors=True)
        yield ResultEvent(report=report)

    def _write(self, item: PlannedItem, mlflow: MlflowWriter, kiln: KilnWriter) -> None:
        redo = item.state == "partial"
        payload: Any = item.payload
        if item.kind == "data asset version":
            kiln.data_asset(payload)
        elif item.kind == LEDGER:
            kiln.privacy_ledger(payload)
        elif item.kind == "environment":
            kiln.environment(payload)
        elif item.kind == "run":
            mlflow.run_unit(payload, redo)
        elif item.kind == "logged model":
            mlflow.lone_model(payload, redo)
        elif item.kind == "job":
            kiln.job(payload, self._sources.tracker.experiment_id(payload["experiment_name"]))
        elif item.kind == "registered model":
            mlflow.registered_model(payload)
        elif item.kind == "endpoint":
            kiln.endpoint(payload)
        else:
            part = next((part for part in self._sources.parts if part.kind == item.kind), None)
            if part is None:  # pragma: no cover - the planner makes only the kinds above and the parts'
                raise ValueError(f"unknown item kind {item.kind}")
            kiln.content(payload)
            part.write(payload)


@dataclass
class Prepared:
    """A checked archive and its plan, ready to be written."""

    archive: UnpackedArchive
    items: list[PlannedItem]


def _skipped_report(prepared: Prepared, parts: tuple[TransferPart, ...]) -> ImportReport:
    report = ImportReport()
    for item in prepared.items:
        if item.state == "there":
            report.of(item.kind).already_there.append(item.label)
        elif item.state == "conflict":
            report.of(item.kind).skipped.append(f"{item.label}: {item.reason}")
    kinds = {item.kind for item in prepared.items if item.state in WRITES}
    if "environment" in kinds:
        report.notes.append(ENVIRONMENTS_NOTE)
    if "endpoint" in kinds:
        report.notes.append(KEYS_NOTE)
    if LEDGER in kinds:
        report.notes.append(LEDGER_NOTE)
    report.notes += [note for part in parts if part.kind in kinds and (note := part.note())]
    carried = {part.member for part in parts}
    report.notes += [
        f"not imported: the archive's {member} (records/kiln/capabilities/{member}.json): no capability of this "
        "server imports them (a plug-in the source workspace had, or a newer kiln's)"
        for member in sorted(prepared.archive.capability_members() - carried)
    ]
    report.notes += [f"left out of the export: {what}" for what in prepared.archive.manifest.left_out]
    return report


def _conflict_message(conflicts: list[PlannedItem]) -> str:
    listed = "\n".join(f"  - {item.kind} {item.label}: {item.reason}" for item in conflicts[:LISTED_CONFLICTS])
    more = f"\n  … and {len(conflicts) - LISTED_CONFLICTS} more" if len(conflicts) > LISTED_CONFLICTS else ""
    return (
        f"the target workspace already holds {len(conflicts)} object(s) that differ from the archive's under the "
        f"same name or id, so nothing was imported:\n{listed}{more}\n"
        "Remove or rename them on the target, or import with --on-conflict skip to import everything else "
        "and keep the target's versions of these."
    )
