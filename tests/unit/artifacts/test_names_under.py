"""``names_under``: the one listing a job list uses instead of asking ``exists`` of every output."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.artifacts.store import ArtifactStore
from kiln.errors import InvalidSpec


def test_the_names_below_a_key_are_what_exists_answers_for_each(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    (tmp_path / "out" / "empty").mkdir(parents=True)
    (tmp_path / "out" / "model").mkdir()
    (tmp_path / "out" / "model" / "weights.bin").write_bytes(b"w")
    store.put(tmp_path / "out", "jobs/j1/outputs")
    store.write_bytes("jobs/j1/outputs/note.txt", b"n")
    names = store.names_under("jobs/j1/outputs")
    assert names == {"model", "note.txt"}  # put keeps files only: an empty folder is not stored
    for name in ("empty", "model", "note.txt", "missing"):
        assert (name in names) == store.exists(f"jobs/j1/outputs/{name}")
    assert store.names_under("jobs/nobody/outputs") == set()


def test_a_key_that_leaves_the_store_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(InvalidSpec):
        store.names_under("jobs/../../etc")


def test_a_link_on_the_way_lists_nothing_and_is_not_followed(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    store.write_bytes("jobs/j1/keep.txt", b"k")
    (tmp_path / "store" / "jobs" / "j1" / "outputs").symlink_to(outside)  # a link where a folder was
    (tmp_path / "store" / "jobs" / "j2").symlink_to(tmp_path / "store" / "jobs" / "j1")
    assert store.names_under("jobs/j1/outputs") == set()
    assert store.names_under("jobs/j2") == set()
    assert store.names_under("jobs/j1") == {"keep.txt", "outputs"}
    assert store.names_under("jobs/j1/keep.txt") == set()  # a file is no folder
