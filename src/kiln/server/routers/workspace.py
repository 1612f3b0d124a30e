"""REST for moving a workspace (``kiln.api.workspace``): export it as one archive, import one."""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from kiln import api
from kiln.api.operation import NDJSON, TAR
from kiln.api.workspace import EXPORT_BYTES_HEADER
from kiln.errors import Conflict
from kiln.server.dependencies import Transfer
from kiln.server.routes import bind
from kiln.transfer.exporter import WorkspaceExporter
from kiln.transfer.importer import Prepared, WorkspaceImporter
from kiln.transfer.report import OnConflict


def workspace_router() -> APIRouter:
    router = APIRouter()
    importing = threading.Lock()  # one import at a time on this server

    @bind(router, api.workspace.EXPORT)
    def export_workspace(
        transfer: Transfer, include_endpoints: bool = Query(False, description="also the endpoints' desired state")
    ) -> StreamingResponse:
        exporter = WorkspaceExporter(transfer)
        plan = exporter.plan(include_endpoints)
        headers = {
            EXPORT_BYTES_HEADER: str(plan.total_bytes),
            "content-disposition": 'attachment; filename="kiln-workspace.tar"',
        }
        return StreamingResponse(exporter.stream(plan), media_type=TAR, headers=headers)

    @bind(router, api.workspace.IMPORT)
    async def import_workspace(
        transfer: Transfer,
        request: Request,
        on_conflict: Annotated[
            OnConflict, Query(description="fail: refuse if anything differs; skip: keep the target's")
        ] = "fail",
        label: Annotated[str, Query(description="how messages name the archive (its file name)")] = "the archive",
    ) -> StreamingResponse:
        """The archive is written to a scratch file and checked before anything is imported; the import
        then runs in its own thread (``_in_background``)."""
        if not importing.acquire(blocking=False):
            raise Conflict("another import is running on this workspace; wait for it to end, then try again")
        importer = WorkspaceImporter(transfer)
        scratch = importer.scratch()
        try:
            archive_file = scratch / "upload"
            with archive_file.open("wb") as handle:
                async for chunk in request.stream():
                    handle.write(chunk)
            prepared = await run_in_threadpool(importer.prepare, scratch, archive_file, label, on_conflict)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            importing.release()
            raise
        lines = _in_background(importer, prepared, importing)
        return StreamingResponse(lines, media_type=NDJSON)

    return router


def _in_background(importer: WorkspaceImporter, prepared: Prepared, lock: threading.Lock) -> Iterator[bytes]:
    """The import runs in its own thread, so that a client that goes away does not cut it short."""
    events: queue.Queue[bytes | None] = queue.Queue()

    def run() -> None:
        try:
            for event in importer.apply(prepared):
                events.put(_line(event))
        finally:
            events.put(None)
            lock.release()

    threading.Thread(target=run, name="workspace-import", daemon=True).start()
    while (line := events.get()) is not None:
        yield line


def _line(event: BaseModel) -> bytes:
    return event.model_dump_json().encode() + b"\n"
