"""``Client().workspace``: export the whole workspace to one file, import such a file::

client.workspace.export("ws.tar.gz")
Client(url="http://team-server:8080", token=...).workspace.import_("ws.tar.gz")
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from kiln import api
from kiln.api.workspace import EXPORT_BYTES_HEADER
from kiln.errors import InvalidSpec, KilnError, Unavailable
from kiln.sdk.rest import RestClient
from kiln.transfer.archive import Manifest, unpack
from kiln.transfer.report import ImportReport, OnConflict, ProgressEvent, ResultEvent

# (bytes so far, bytes expected: 0 when unknown)
ByteProgress = Callable[[int, int], None]
ItemProgress = Callable[[ProgressEvent], None]
CHUNK = 1 << 20


class ImportStopped(KilnError):
    """The import stopped part way; ``report`` says what was imported before. Running it again is safe."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


class WorkspaceOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def export(
        self, to: str | Path, *, include_endpoints: bool = False, progress: ByteProgress | None = None
    ) -> Manifest:
        """Write the workspace to ``to`` (a .tar.gz), then read it back to check every member.
        The file appears only when it is complete: nothing is left under that name otherwise."""
        target = Path(to)
        if target.is_dir():
            raise InvalidSpec(f"--to: {target} is a folder; give a file name such as {target / 'workspace.tar.gz'}")
        if not target.parent.is_dir():
            raise InvalidSpec(f"--to: the folder {target.parent} does not exist")
        partial = target.with_name(f".{target.name}.partial")
        try:
            with self._rest.stream(api.workspace.EXPORT, params={"include_endpoints": include_endpoints}) as response:
                expected = int(response.headers.get(EXPORT_BYTES_HEADER, "0") or 0)
                with partial.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as packed:
                    received = 0
                    for chunk in response.iter_bytes(CHUNK):
                        packed.write(chunk)
                        received += len(chunk)
                        if progress:
                            progress(received, expected)
            with partial.open("rb") as handle:
                manifest = unpack(handle, None, f"the export written to {target}")
            partial.replace(target)
            return manifest
        finally:
            partial.unlink(missing_ok=True)

    def import_(
        self,
        archive: str | Path,
        *,
        on_conflict: OnConflict = "fail",
        upload_progress: ByteProgress | None = None,
        progress: ItemProgress | None = None,
    ) -> ImportReport:
        """Import an export into this workspace. Identical objects are skipped; different ones
        under the same name or id are refused (``on_conflict="fail"``, nothing is written) or
        left as they are (``"skip"``). Raises ``ImportStopped`` if the import stops part way."""
        path = Path(archive)
        if not path.is_file():
            raise InvalidSpec(f"{path}: no such file (give the .tar.gz that kiln workspace export wrote)")
        if on_conflict not in ("fail", "skip"):
            raise InvalidSpec(f"--on-conflict: {on_conflict!r} is not one of fail, skip")
        params = {"on_conflict": on_conflict, "label": path.name}
        report = None
        with self._rest.stream(api.workspace.IMPORT, params=params, content=_read(path, upload_progress)) as response:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "progress" and progress:
                    progress(ProgressEvent.model_validate(event))
                elif event.get("type") == "result":
                    report = ResultEvent.model_validate(event).report
        if report is None:
            raise Unavailable(
                "the workspace ended the import without a result; run the same import again: it is safe, "
                "what was imported already is recognized and skipped"
            )
        if not report.complete:
            raise ImportStopped(_stopped_message(report), report)
        return report


def _read(path: Path, progress: ByteProgress | None) -> Iterator[bytes]:
    size, sent = path.stat().st_size, 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            sent += len(chunk)
            if progress:
                progress(sent, size)
            yield chunk


def _stopped_message(report: ImportReport) -> str:
    return (
        f"the import stopped at {report.stopped_at}: {report.error}\n"
        f"Imported before it stopped: {report.imported_summary()}. What it was writing is either not recorded "
        "or marked incomplete; running the same import again is safe: it skips what is there and writes the rest."
    )
