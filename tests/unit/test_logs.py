"""The one tail loop behind following a job's log and an environment's build log."""

from __future__ import annotations

from pathlib import Path

from kiln.logs import CappedLog, cap_log_file, follow_log, read_from, truncation_note


def test_without_follow_the_log_so_far(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_bytes(b"one\n")
    assert b"".join(follow_log(lambda offset: (read_from(log, offset), False), follow=False)) == b"one\n"
    assert list(follow_log(lambda offset: (read_from(tmp_path / "missing", offset), False), follow=False)) == []


def test_following_reads_what_is_written_until_the_writer_is_done(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_bytes(b"")
    writes = iter([b"one\n", b"", b"two\n", b""])
    calls = 0

    def read(offset: int) -> tuple[bytes, bool]:
        nonlocal calls
        calls += 1
        done = calls > 4  # the writer finishes after its last write: what it wrote is still read
        chunk = next(writes, b"")
        with log.open("ab") as handle:
            handle.write(chunk)
        return read_from(log, offset), done

    assert b"".join(follow_log(read, follow=True, poll=0.001)) == b"one\ntwo\n"


def test_a_capped_log_keeps_its_limit_then_one_note_and_accepts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    with path.open("ab") as raw:
        raw.write(b"built\n")
        capped = CappedLog(raw, limit=20, already=6)
        assert capped.write(b"0123456789") == 10
        assert capped.write(b"abcdefghij") == 10  # 14 bytes of room: 4 kept, then the note
        assert capped.write(b"more") == 4  # accepted (the job's pipes are drained) but not kept
    assert path.read_bytes() == b"built\n0123456789abcd" + truncation_note(20)


def test_capping_a_file_cuts_it_once_with_the_note(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_bytes(b"x" * 100)
    assert cap_log_file(path, 40) and path.read_bytes() == b"x" * 40 + truncation_note(40)
    assert not cap_log_file(path, 1000) and not cap_log_file(tmp_path / "missing", 1)
    assert b"job_log_limit_bytes" in truncation_note(40)
