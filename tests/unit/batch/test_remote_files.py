"""A batch job's files read from signed URLs (on a Ray cluster): the scorer streams a :class:`RemoteFile` through
fsspec's HTTP file system and reads it as it reads a path; a scoring script gets local copies under the files' own
names; a file that cannot be read is named, its URL never shown; the entry reads the manifest kiln writes."""

from __future__ import annotations

import functools
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from kiln.batch import entry
from kiln.batch.job_kind import BatchScoringHandler, BatchScoringJobSpec
from kiln.batch.scorer import RemoteFile, RemoteReadError, local_copies, read_rows
from kiln.jobs.input_manifest import MANIFEST_FORMAT

FRAME = pd.DataFrame({"a": [1.5, 2.5, 3.5], "b": ["x", "y", "z"]})


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("served")
    FRAME.to_csv(folder / "rows.csv", index=False)
    (folder / "rows.csv.gz").write_bytes(gzip.compress((folder / "rows.csv").read_bytes()))
    FRAME.to_parquet(folder / "rows.parquet")
    FRAME.to_json(folder / "rows.jsonl", orient="records", lines=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("name", ["rows.csv", "rows.csv.gz", "rows.parquet", "rows.jsonl"])
def test_a_remote_file_reads_as_its_local_copy(served: tuple[Path, str], name: str) -> None:
    folder, base = served
    size = (folder / name).stat().st_size
    got = read_rows(RemoteFile(f"sub/{name}", f"{base}/{name}?sig=abcdefghijklmnopqrstuvwxyz", size))
    pd.testing.assert_frame_equal(got, read_rows(str(folder / name)))


def test_a_script_gets_local_copies_named_as_the_files(served: tuple[Path, str]) -> None:
    folder, base = served
    files = [RemoteFile("in/rows.csv.gz", f"{base}/rows.csv.gz"), str(folder / "rows.csv")]
    with local_copies(files) as paths:
        assert paths[0].endswith("/in/rows.csv.gz") and paths[1] == str(folder / "rows.csv")
        assert Path(paths[0]).read_bytes() == (folder / "rows.csv.gz").read_bytes()  # as stored, not unpacked
        scratch = Path(paths[0]).parents[1]
    assert not scratch.exists()


def test_a_file_that_cannot_be_read_is_named_without_its_url(served: tuple[Path, str]) -> None:
    _, base = served
    secret = "X-Amz-Signature=0123456789abcdef0123456789abcdef"
    with pytest.raises(RemoteReadError) as caught:
        read_rows(RemoteFile("gone.csv", f"{base}/gone.csv?{secret}", 10))
    assert str(caught.value).startswith("gone.csv: ") and secret not in str(caught.value)
    with pytest.raises(RemoteReadError) as caught, local_copies([RemoteFile("gone.csv", f"{base}/gone.csv?{secret}")]):
        pass
    assert secret not in str(caught.value)


def test_the_entry_reads_the_manifest_kiln_writes(tmp_path: Path) -> None:
    assert entry.MANIFEST_FORMAT == MANIFEST_FORMAT  # the job's process imports no kiln runtime: one value, twice
    manifest = tmp_path / "data.json"
    files = [
        {"name": "b.csv", "size": 3, "url": "http://h/b"}, {"name": "a/MLTable", "size": 1, "url": "http://h/m"},
        {"name": ".hidden/x.csv", "size": 1, "url": "http://h/x"}, {"name": "a/c.csv", "size": 2, "url": "http://h/c"},
    ]  # fmt: skip
    manifest.write_text(json.dumps({"format": MANIFEST_FORMAT, "files": files}))
    assert [(f.name, f.size) for f in entry.manifest_files(manifest)] == [("a/c.csv", 2), ("b.csv", 3)]
    manifest.write_text(json.dumps({"format": "other", "files": []}))
    with pytest.raises(entry.ManifestError, match="is not a kiln input manifest"):
        entry.manifest_files(manifest)
    manifest.write_text("{")
    with pytest.raises(entry.ManifestError, match="cannot be read: JSONDecodeError"):
        entry.manifest_files(manifest)


def test_the_command_line_names_the_manifest_where_kiln_wrote_one() -> None:
    spec = BatchScoringJobSpec(model="kiln:m:1", input="kiln:d:1")
    values = {"inputs": {"model": "/m", "data": ".kiln_inputs/data.json"}, "outputs": {"predictions": "/o"}}
    with_manifest = BatchScoringHandler().command_line(
        spec, {**values, "manifests": {"data": ".kiln_inputs/data.json"}}
    )
    assert "--input-manifest .kiln_inputs/data.json" in with_manifest and "--input " not in with_manifest
    assert "--input .kiln_inputs/data.json" in BatchScoringHandler().command_line(spec, values)
    assert BatchScoringHandler.url_inputs == ("data",)
