"""The one tail loop behind following a job's log and an environment's build log."""

from __future__ import annotations

from pathlib import Path

from kiln.logs import follow_log, read_from


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
