"""A folder kept in the artifact store (a job's outputs) never takes a symlink's target with it (issue 11)."""

from __future__ import annotations

from pathlib import Path

from kiln.artifacts.store import ArtifactStore


def test_symlinks_in_a_stored_folder_are_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("workspace token")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "result.txt").write_text("42")
    (outputs / "leak.txt").symlink_to(secret)
    store = ArtifactStore(str(tmp_path / "store"))
    store.put(outputs, "jobs/j/outputs/default")
    kept = tmp_path / "store" / "jobs" / "j" / "outputs" / "default"
    assert sorted(p.name for p in kept.iterdir()) == ["result.txt"]
