"""The first rows of a data asset version, for kiln studio's data page: read from the artifact store
without loading whole files (CSV read row by row from a stream, Parquet one batch through pyarrow,
an MLTable through ``kiln.mltable``'s parse, then its files the same ways). A folder lists its files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from kiln import mltable
from kiln.artifacts.store import ArtifactStore
from kiln.errors import InvalidSpec
from kiln.store.tables import DataAssetRow

ROWS = 50
CELL_LIMIT = 200  # characters of a cell shown
COLUMN_LIMIT = 60
FILE_LIMIT = 500  # files listed for a folder
DELIMITERS = {".csv": ",", ".tsv": "\t"}
PARQUET = (".parquet", ".pq")


@dataclass
class DataPreview:
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    more: bool = False  # the data has more rows than shown
    source: str | None = None  # the file(s) the rows come from
    files: list[tuple[str, int | None]] = field(default_factory=list)  # a folder's files (path, bytes)
    more_files: bool = False
    note: str | None = None  # why there are no rows to show


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    more: bool


def preview(store: ArtifactStore, row: DataAssetRow, limit: int = ROWS) -> DataPreview:
    if row.remote_path:
        return DataPreview(note=f"a reference to {row.remote_path}: kiln reads it for jobs, not for previews")
    if row.type == "mltable":
        return _mltable(store, row.store_key, limit)
    files = store.list_files(row.store_key)
    if row.type == "uri_file" and files:
        return _file(store, f"{row.store_key}/{files[0]}", files[0], limit)
    return _folder(store, row.store_key, files)


def file_preview(store: ArtifactStore, key: str, name: str, limit: int = ROWS) -> DataPreview:
    """The first rows of one stored file (``name``: its file name, whose suffix says how to read it)."""
    return _file(store, key, name, limit)


def _file(store: ArtifactStore, key: str, name: str, limit: int) -> DataPreview:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in DELIMITERS and suffix not in PARQUET:
        return DataPreview(source=name, note=f"{name}: a preview shows .csv, .tsv and .parquet files")
    try:
        with store.open(key) as handle:
            table = parquet_rows(handle, limit) if suffix in PARQUET else csv_rows(handle, limit, DELIMITERS[suffix])
    except InvalidSpec as exc:
        return DataPreview(source=name, note=exc.message)
    return DataPreview(table.columns, table.rows, table.more, source=name)


def _folder(store: ArtifactStore, key: str, files: list[str]) -> DataPreview:
    local = store.local_path(key)
    listed = [(rel, (local / rel).stat().st_size if local is not None else None) for rel in files[:FILE_LIMIT]]
    return DataPreview(files=listed, more_files=len(files) > FILE_LIMIT)


def _mltable(store: ArtifactStore, key: str, limit: int) -> DataPreview:
    with store.local_view(key) as folder:  # the stored folder itself on a local store (nothing copied)
        try:
            definition = mltable.parse(folder, label=mltable.MLTABLE_FILE)
            table = mltable_rows(definition, limit)
        except InvalidSpec as exc:
            return DataPreview(note=exc.message)
        names = [file.relative_to(definition.folder).as_posix() for file in definition.files]
    shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
    return DataPreview(table.columns, table.rows, table.more, source=shown)


def mltable_rows(definition: mltable.MLTableDefinition, limit: int) -> Table:
    """The first ``limit`` rows of the MLTable's files, in order, read as its reader says."""
    columns: list[str] = []
    rows: list[list[str]] = []
    options = definition.delimited
    for index, file in enumerate(definition.files):
        with file.open("rb") as handle:
            if definition.reader == "read_parquet":
                table = parquet_rows(handle, limit - len(rows))
            else:
                header = options.header in ("all_files_same_headers", "all_files_different_headers") or (
                    options.header == "from_first_file" and index == 0
                )
                encoding = mltable.ENCODINGS[options.encoding]
                table = csv_rows(handle, limit - len(rows), options.delimiter, encoding, header)
        columns = columns or table.columns
        rows.extend(table.rows)
        if table.more or (len(rows) >= limit and index + 1 < len(definition.files)):
            return Table(columns, rows, True)
    return Table(columns, rows, False)


def csv_rows(
    handle: IO[bytes], limit: int, delimiter: str = ",", encoding: str = "utf-8", header: bool = True
) -> Table:
    """The header and the first ``limit`` rows, read from the stream as far as they go (not the whole file)."""
    text = io.TextIOWrapper(handle, encoding=encoding, errors="replace", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        first = next(reader, None)
        if first is None:
            return Table([], [], False)
        columns = [_cell(c) for c in first] if header else [f"Column{i + 1}" for i in range(len(first))]
        rows = [] if header else [first]
        for row in reader:
            if len(rows) >= limit:
                return Table(columns[:COLUMN_LIMIT], [_cut(r) for r in rows], True)
            rows.append(row)
    except csv.Error as exc:
        raise InvalidSpec(f"not readable as delimited text (line {reader.line_num}): {exc}") from None
    finally:
        text.detach()  # the caller closes the stream
    return Table(columns[:COLUMN_LIMIT], [_cut(r) for r in rows], False)


def parquet_rows(handle: IO[bytes], limit: int) -> Table:
    """The first ``limit`` rows through pyarrow: the footer, then one batch (only the row groups it needs)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidSpec("a Parquet preview needs pyarrow (pip install pyarrow on the workspace server)") from None
    try:
        parquet = pq.ParquetFile(handle)
        columns = list(parquet.schema_arrow.names)[:COLUMN_LIMIT]
        batches: Iterator[Any] = parquet.iter_batches(batch_size=max(limit, 1), columns=columns)
        batch = next(batches, None)
        rows = [] if batch is None or limit <= 0 else [list(record.values()) for record in batch.to_pylist()[:limit]]
        total = parquet.metadata.num_rows
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidSpec(f"not a readable Parquet file: {exc}") from None
    return Table([_cell(c) for c in columns], [_cut(r) for r in rows], total > len(rows))


def _cut(row: list[Any]) -> list[str]:
    return [_cell(value) for value in row[:COLUMN_LIMIT]]


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_LIMIT else text[: CELL_LIMIT - 1] + "…"
