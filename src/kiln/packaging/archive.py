"""A finished folder as a gzip tar to stream: made whole before the first byte is sent, so a failure is an error
answer, never a truncated archive."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from kiln.artifacts.references import regular_files

CHUNK = 1 << 16


def gzip_tar(folder: Path) -> Iterator[bytes]:
    """``folder``'s regular files as a gzip tar (paths relative to it); ``folder`` is removed once written."""
    spool: IO[bytes] = tempfile.TemporaryFile()
    try:
        files, _links = regular_files(folder)  # a package is made of regular files only
        with tarfile.open(fileobj=spool, mode="w:gz") as tar:
            for path in files:
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False, filter=_plain)
    except BaseException:
        spool.close()
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    spool.seek(0)
    return _chunks(spool)


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(CHUNK):
            yield chunk
