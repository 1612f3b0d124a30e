"""The export archive format: written as a stream, read back whole, and every kind of damage refused."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiln.errors import InvalidSpec
from kiln.transfer.archive import MANIFEST, TOP, ArchiveWriter, Manifest, read_manifest, unpack


def _archive(tmp_path: Path, big: int = 3 << 20) -> bytes:
    folder = tmp_path / "content"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "big.bin").write_bytes(bytes(range(256)) * (big // 256))
    (folder / "small.txt").write_text("hello")
    manifest = Manifest(kiln_version="0.test", mlflow_version="3", created_at=datetime.now(UTC), counts={"jobs": 1})
    writer = ArchiveWriter()
    chunks = [*writer.add_json(MANIFEST, manifest.model_dump(mode="json"))]
    chunks += writer.add_json("records/kiln/jobs.json", [{"name": "a", "value": float("nan")}])
    chunks += writer.add_folder("store/snapshots/x", folder)
    chunks += writer.finish()
    assert max(len(chunk) for chunk in chunks) <= 1 << 20  # streamed: no member held whole in memory
    return gzip.compress(b"".join(chunks))


def test_round_trip_keeps_every_member(tmp_path: Path) -> None:
    data = _archive(tmp_path)
    manifest = unpack(io.BytesIO(data), tmp_path / "out", "ws.tar.gz")
    assert manifest.counts == {"jobs": 1} and manifest.kiln_version == "0.test"
    out = tmp_path / "out"
    assert (out / "store/snapshots/x/sub/big.bin").read_bytes() == (tmp_path / "content/sub/big.bin").read_bytes()
    assert (out / "store/snapshots/x/small.txt").read_text() == "hello"
    assert json.loads((out / "records/kiln/jobs.json").read_text())[0]["name"] == "a"
    (tmp_path / "ws.tar.gz").write_bytes(data)
    assert read_manifest(tmp_path / "ws.tar.gz").counts == {"jobs": 1}
    assert unpack(io.BytesIO(gzip.decompress(data)), None, "plain tar").counts == {"jobs": 1}  # uncompressed too


def test_truncated_archives_are_refused(tmp_path: Path) -> None:
    data = _archive(tmp_path)
    for cut in (len(data) // 2, len(data) - 40, 100):
        with pytest.raises(InvalidSpec, match=r"ws.tar.gz (is truncated or corrupt|ends before).*nothing was imported"):
            unpack(io.BytesIO(data[:cut]), tmp_path / f"cut-{cut}", "ws.tar.gz")
    # a plain tar cut at a member boundary (no gzip check to catch it): the missing checksums tell
    plain = gzip.decompress(data)
    with pytest.raises(InvalidSpec, match=r"truncated|ends before"):
        unpack(io.BytesIO(plain[: 3 * 512]), None, "ws.tar")


def test_a_changed_member_is_refused(tmp_path: Path) -> None:
    plain = bytearray(gzip.decompress(_archive(tmp_path)))
    at = plain.index(b"hello")
    plain[at : at + 5] = b"HELLO"  # a member's bytes changed, its tar header intact
    with pytest.raises(InvalidSpec, match=r"corrupt \(content differs from its checksum: store/snapshots/x/small.txt"):
        unpack(io.BytesIO(bytes(plain)), tmp_path / "out", "ws.tar")


def test_other_files_and_newer_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="truncated or corrupt"):
        unpack(io.BytesIO(b"not an archive at all"), None, "notes.txt")

    def tar_of(members: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, body in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
        return buffer.getvalue()

    with pytest.raises(InvalidSpec, match="not a kiln workspace export: its first member"):
        unpack(io.BytesIO(tar_of({f"{TOP}/other.json": b"{}"})), None, "x.tar.gz")
    newer = {"format": "kiln-workspace", "format_version": 99, "kiln_version": "9.0"}
    with pytest.raises(InvalidSpec, match="written by kiln 9.0 in export format 99.*upgrade kiln"):
        unpack(io.BytesIO(tar_of({f"{TOP}/{MANIFEST}": json.dumps(newer).encode()})), None, "x.tar.gz")
    with pytest.raises(InvalidSpec, match="not a file inside kiln-workspace/"):
        unpack(io.BytesIO(tar_of({"../evil": b"x"})), None, "x.tar.gz")
