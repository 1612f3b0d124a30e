"""Job shims started ahead (kiln.runners.local.spare_shims): a job that takes one runs as with a shim of its own —
in its folder, with exactly its variables, its stderr in its log, its result written — and the next is ready after."""

from __future__ import annotations

import json
import time
from pathlib import Path

from kiln.jobs.folders import JobFolder
from kiln.runners.local.job_shim import RESULT_NAME
from kiln.runners.local.spare_shims import SpareShims


def job(tmp_path: Path, name: str) -> JobFolder:
    folder = JobFolder(tmp_path / name)
    folder.create()
    return folder


def start(shims: SpareShims, folder: JobFolder, command: str, env: dict[str, str]) -> int:
    shim = shims.start([str(folder.root), "--", "bash", "-c", command], folder.working_dir, env, folder.log)
    assert shim.wait(timeout=30) == 0
    return int(json.loads((folder.root / RESULT_NAME).read_text())["exit_code"])


def wait_for_spare(shims: SpareShims) -> int:
    deadline = time.monotonic() + 10
    while shims._spare is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shims._spare is not None, "no spare was started after a job took one"
    return shims._spare.pid


def test_a_job_on_a_spare_runs_in_its_folder_with_exactly_its_variables_and_the_next_spare_is_started(
    tmp_path: Path,
) -> None:
    shims = SpareShims(refill_delay=0.0)
    try:
        first = job(tmp_path, "first")
        env = {"PATH": "/usr/bin:/bin", "ONLY_MINE": "1"}
        command = 'pwd; env | sort | grep -v "^_=\\|^SHLVL=\\|^PWD=\\|^OLDPWD="; echo to-stderr >&2; exit 3'
        assert start(shims, first, command, env) == 3  # the first job found no spare: one started for it
        log = first.log.read_text()
        assert log.splitlines()[0] == str(first.working_dir)
        assert "ONLY_MINE=1" in log and "PATH=/usr/bin:/bin" in log
        assert "to-stderr" in log
        assert "KILN_" not in log  # nothing of the server's

        spare_pid = wait_for_spare(shims)
        second = job(tmp_path, "second")
        shim = shims.start([str(second.root), "--", "bash", "-c", "echo $$ $PPID"], second.working_dir, env, second.log)
        assert shim.pid == spare_pid  # the job took the spare started ahead
        assert shim.wait(timeout=30) == 0
        assert int(second.log.read_text().split()[1]) == spare_pid  # the command is the spare's child
    finally:
        shims.close()


def test_a_spare_that_died_is_replaced_and_close_ends_the_waiting_one(tmp_path: Path) -> None:
    shims = SpareShims(refill_delay=0.0)
    try:
        assert start(shims, job(tmp_path, "a"), "true", {"PATH": "/usr/bin:/bin"}) == 0
        wait_for_spare(shims)
        assert shims._spare is not None
        shims._spare.kill()
        shims._spare.wait()
        assert start(shims, job(tmp_path, "b"), "exit 0", {"PATH": "/usr/bin:/bin"}) == 0  # on a new shim
        wait_for_spare(shims)
        waiting = shims._spare
    finally:
        shims.close()
    assert waiting is not None and waiting.wait(timeout=5) == 0  # its stdin closed: it ended on its own
    assert shims._spare is None
    shims._refill()
    assert shims._spare is None  # closed: no new spare
