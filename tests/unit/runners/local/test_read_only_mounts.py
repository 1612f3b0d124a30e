"""ro_mount inputs: a real read-only bind mount in the job's own mount namespace, or a chmod a-w copy."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from kiln.runners.local.read_only_mounts import ReadOnlyInputs


def stored_folder(root: Path) -> Path:
    source = root / "stored"
    (source / "sub").mkdir(parents=True)
    (source / "data.csv").write_text("a,b\n1,2\n")
    (source / "sub" / "more.txt").write_text("more")
    return source


def test_the_command_sees_the_source_read_only_and_nothing_else_changes(tmp_path: Path) -> None:
    inputs = ReadOnlyInputs(tmp_path / "scratch")
    prefix, reason = inputs._namespace_prefix()
    if prefix is None:
        pytest.skip(f"mount namespaces are not available here: {reason}")
    source = stored_folder(tmp_path)
    job_root = tmp_path / "job"
    target = job_root / "inputs" / "data"
    target.mkdir(parents=True)
    log = job_root / "log.txt"
    inputs.provide(source, target)
    wrapper = inputs.command_prefix(job_root, log)
    assert wrapper and "unshare" in wrapper[0]
    script = f'cat {target}/data.csv; echo changed > {target}/data.csv; echo "rc=$?"; touch {target}/new; echo "rc=$?"'
    result = subprocess.run([*wrapper, "bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["a,b", "1,2", "rc=1", "rc=1"]
    assert "Read-only file system" in result.stderr
    # the stored version is unchanged, and outside the namespace the target was never mounted
    assert (source / "data.csv").read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in source.rglob("*")) == ["data.csv", "more.txt", "sub"]
    assert list(target.iterdir()) == []
    # the mounts were handed out once: the next launch of that job folder gets none
    assert inputs.command_prefix(job_root, log) == []


def test_without_namespaces_the_input_is_a_copy_without_write_permission(tmp_path: Path) -> None:
    inputs = ReadOnlyInputs(tmp_path / "scratch", use_namespaces=False)
    source = stored_folder(tmp_path)
    job_root = tmp_path / "job"
    target = job_root / "inputs" / "data"
    target.mkdir(parents=True)
    log = job_root / "log.txt"
    inputs.provide(source, target)
    assert inputs.command_prefix(job_root, log) == []
    assert (target / "sub" / "more.txt").read_text() == "more"
    for path in [target, *target.rglob("*")]:
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), path
    assert "read-only copy (chmod a-w)" in log.read_text()
    if os.geteuid() != 0:
        with pytest.raises(PermissionError):
            (target / "data.csv").write_text("changed")
    assert (source / "data.csv").stat().st_mode & stat.S_IWUSR  # the source itself is left alone


def test_a_non_local_store_is_downloaded_once_per_content_and_mounted_from_the_cache(tmp_path: Path) -> None:
    from kiln.artifacts.store import ArtifactStore
    from kiln.services.data import DataInputs
    from kiln.specs.job import JobInput
    from kiln.specs.pins import DataPin

    store = ArtifactStore(f"memory://kiln-unit-{tmp_path.name}")
    digest = store.put_content_addressed(stored_folder(tmp_path), "data")
    read_only = ReadOnlyInputs(tmp_path / "scratch")
    cache = tmp_path / "cache"
    resolver = DataInputs(None, store, read_only, cache)  # type: ignore[arg-type]  # pin() is not used here
    item = JobInput(type="uri_folder", path="kiln:stored:1", mode="ro_mount")
    pinned = DataPin(name="stored", version="1", type="uri_folder", key=f"data/{digest}", content_hash=digest)
    for job in ("job-1", "job-2"):
        target = tmp_path / job / "inputs" / "data"
        target.mkdir(parents=True)
        assert resolver.materialize("data", item, pinned, target) == target
    assert sorted(p.name for p in cache.iterdir()) == [digest]  # one download, shared by both jobs
    assert (cache / digest / "sub" / "more.txt").read_text() == "more"
    wrapper = read_only.command_prefix(tmp_path / "job-1", tmp_path / "log.txt")
    if wrapper:  # mount namespaces available: the cached folder is what the job sees
        assert str(cache / digest) in wrapper
    else:
        assert (tmp_path / "job-1" / "inputs" / "data" / "data.csv").read_text() == "a,b\n1,2\n"
