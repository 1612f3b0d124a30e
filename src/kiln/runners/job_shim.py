"""The first process of every local job (standard library only, so it starts fast).

It runs the job's command, copies stdout and stderr into one log in arrival order, keeps
the tail of stderr, and writes ``result.json`` when the command ends. Because the shim,
not the workspace server, holds the pipes, a job survives a restart of the server, and a
server that comes back finds the outcome on disk.

    python -m kiln.runners.job_shim JOB_DIR -- bash -c COMMAND
"""

from __future__ import annotations

import collections
import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

LOG_NAME = "std_log.txt"
RESULT_NAME = "result.json"
STDERR_TAIL_LINES = 30


def run(job_dir: Path, command: list[str]) -> int:
    # A cancel signals the whole process group; the shim outlives the command to record it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
    with (job_dir / LOG_NAME).open("ab", buffering=0) as log:
        process = subprocess.Popen(
            command, cwd=job_dir / "wd", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=_default_signals,
        )  # fmt: skip
        _copy_streams(process, log, stderr_tail)
        code = process.wait()
    result = {"exit_code": code, "stderr_tail": "".join(stderr_tail)}
    tmp = job_dir / (RESULT_NAME + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(job_dir / RESULT_NAME)
    return 0


def _default_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _copy_streams(process: subprocess.Popen[bytes], log, stderr_tail: collections.deque[str]) -> None:  # type: ignore[no-untyped-def]
    selector = selectors.DefaultSelector()
    assert process.stdout and process.stderr
    selector.register(process.stdout, selectors.EVENT_READ, "out")
    selector.register(process.stderr, selectors.EVENT_READ, "err")
    partial = b""
    open_streams = 2
    while open_streams:
        for key, _ in selector.select():
            chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
            if not chunk:
                selector.unregister(key.fileobj)
                open_streams -= 1
                continue
            log.write(chunk)
            if key.data == "err":
                partial += chunk
                *lines, partial = partial.split(b"\n")
                stderr_tail.extend(line.decode(errors="replace") + "\n" for line in lines)
    if partial:
        stderr_tail.append(partial.decode(errors="replace"))


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m kiln.runners.job_shim JOB_DIR -- COMMAND...", file=sys.stderr)
        return 2
    return run(Path(argv[0]), argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
