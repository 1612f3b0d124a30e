"""The data preview's readers: the first rows of CSV, Parquet and MLTable content, read as far as needed."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln import mltable
from kiln.artifacts.store import ArtifactStore
from kiln.errors import InvalidSpec
from kiln.services.data_preview import CELL_LIMIT, csv_rows, mltable_rows, parquet_rows, preview
from kiln.store.tables import DataAssetRow


class CountingReader(io.BytesIO):
    """A stream that says how much of it was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk

    def read1(self, size: int = -1) -> bytes:
        chunk = super().read1(size)
        self.consumed += len(chunk)
        return chunk

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        count = super().readinto(buffer)
        self.consumed += count
        return count


def test_csv_reads_the_header_and_the_first_rows_only() -> None:
    body = "a,b\n" + "".join(f"{i},x{i}\n" for i in range(200_000))
    stream = CountingReader(body.encode())
    table = csv_rows(stream, 50)
    assert table.columns == ["a", "b"] and len(table.rows) == 50 and table.more
    assert table.rows[0] == ["0", "x0"] and table.rows[-1] == ["49", "x49"]
    assert stream.consumed < 64 * 1024 < len(body)  # a few buffers, not the file


def test_csv_options_quoting_no_header_short_files_and_long_cells() -> None:
    table = csv_rows(io.BytesIO(b'1\t"two, three"\n4\t5\n'), 50, delimiter="\t", header=False)
    assert table.columns == ["Column1", "Column2"] and table.rows == [["1", "two, three"], ["4", "5"]]
    assert not table.more
    assert csv_rows(io.BytesIO(b""), 50).columns == []
    long = csv_rows(io.BytesIO(b"x\n" + b"y" * 5000 + b"\n"), 50)
    assert len(long.rows[0][0]) == CELL_LIMIT and long.rows[0][0].endswith("…")
    latin = csv_rows(io.BytesIO("n\ncafé\n".encode("latin-1")), 50, encoding="latin-1")
    assert latin.rows == [["café"]]


def test_parquet_reads_one_batch_through_pyarrow() -> None:
    buffer = io.BytesIO()
    frame = pa.table({"x": list(range(10_000)), "name": [f"n{i}" for i in range(10_000)]})
    pq.write_table(frame, buffer, row_group_size=1000)
    buffer.seek(0)
    table = parquet_rows(buffer, 50)
    assert table.columns == ["x", "name"] and len(table.rows) == 50 and table.more
    assert table.rows[3] == ["3", "n3"]
    with pytest.raises(InvalidSpec, match="not a readable Parquet file"):
        parquet_rows(io.BytesIO(b"not parquet at all"), 50)


def test_mltable_rows_continue_across_its_files(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "1.csv").write_text("a;b\n1;2\n3;4\n")
    (tmp_path / "parts" / "2.csv").write_text("a;b\n5;6\n")
    (tmp_path / "MLTable").write_text(
        "paths:\n  - pattern: ./parts/*.csv\ntransformations:\n  - read_delimited: {delimiter: ';'}\n"
    )
    definition = mltable.parse(tmp_path)
    table = mltable_rows(definition, 50)
    assert table.columns == ["a", "b"] and table.rows == [["1", "2"], ["3", "4"], ["5", "6"]] and not table.more
    cut = mltable_rows(definition, 2)
    assert cut.rows == [["1", "2"], ["3", "4"]] and cut.more


def _asset(store: ArtifactStore, tmp_path: Path, kind: str, files: dict[str, bytes]) -> DataAssetRow:
    folder = tmp_path / "content"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    digest = store.put_content_addressed(folder, "data")
    return DataAssetRow(name="d", version="1", type=kind, content_hash=digest, store_key=f"data/{digest}")


def test_preview_of_stored_versions_file_folder_mltable_and_others(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    csv_file = preview(store, _asset(store, tmp_path / "1", "uri_file", {"iris.csv": b"a,b\n1,2\n"}))
    assert csv_file.columns == ["a", "b"] and csv_file.rows == [["1", "2"]] and csv_file.source == "iris.csv"
    folder = preview(store, _asset(store, tmp_path / "2", "uri_folder", {"x/a.txt": b"hello", "b.bin": b"12"}))
    assert folder.files == [("b.bin", 2), ("x/a.txt", 5)] and not folder.columns
    table = preview(
        store, _asset(store, tmp_path / "3", "mltable", {"MLTable": b"paths:\n  - file: ./t.csv\n", "t.csv": b"k\n9\n"})
    )
    assert table.columns == ["k"] and table.rows == [["9"]] and table.source == "t.csv"
    other = preview(store, _asset(store, tmp_path / "4", "uri_file", {"model.pkl": b"\x80\x04"}))
    assert other.note and ".csv" in other.note and not other.rows
    remote = DataAssetRow(name="r", version="1", type="uri_file", remote_path="https://example.org/x.csv")
    assert "https://example.org/x.csv" in (preview(store, remote).note or "")
