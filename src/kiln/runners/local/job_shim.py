"""The first process of every local job (standard library and kiln's light modules only, so it starts fast).

It runs the job's command (through :mod:`kiln.runners.local.rank_launcher`: one process, or the
ranks of a distributed job), copies stdout and stderr into one log in arrival order, keeps
the tail of stderr, and writes ``result.json`` when the command ends. Because the shim,
not the workspace server, holds the pipes, a job survives a restart of the server, and a
server that comes back finds the outcome on disk.

    python -m kiln.runners.local.job_shim JOB_DIR [--sandboxed] [--ranks N] [--log-limit BYTES] -- [SANDBOX...] bash -c COMMAND
    python -m kiln.runners.local.job_shim --spare     # started ahead: the above as one line of JSON on stdin

A spare (:mod:`kiln.runners.local.spare_shims`) reads ``{"args", "cwd", "env", "log"}``, moves into ``cwd`` with
exactly ``env``, appends its stderr to ``log``, and goes on as if started with ``args``.

With ``--sandboxed`` the command runs through bubblewrap, which reports a command killed by signal N as exit
code 128+N; the shim records it as killed by N, as it would without the sandbox. With ``--log-limit``, the
log stops growing at that many bytes, with a note at the cut (the job runs on; what it writes after is dropped).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from kiln.jobs.folders import JobFolder
from kiln.logs import DEFAULT_JOB_LOG_LIMIT_BYTES, CappedLog
from kiln.runners.local.rank_launcher import RankLauncher

RESULT_NAME = "result.json"


SIGNAL_EXIT_BASE = 128  # a shell's (and bubblewrap's) exit code for "killed by signal N" is 128+N


def run(
    job_dir: Path,
    command: list[str],
    ranks: int | None = None,
    log_limit: int = DEFAULT_JOB_LOG_LIMIT_BYTES,
    sandboxed: bool = False,
) -> int:
    # A cancel signals the whole process group; the shim outlives the command to record it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    folder = JobFolder(job_dir)
    with folder.log.open("ab", buffering=0) as log:
        capped = CappedLog(log, log_limit, already=folder.log.stat().st_size)
        outcome = RankLauncher(command, str(folder.working_dir), capped, ranks).run()  # type: ignore[arg-type]
    code = outcome.exit_code
    if sandboxed and SIGNAL_EXIT_BASE < code < SIGNAL_EXIT_BASE + 65:
        code = SIGNAL_EXIT_BASE - code
    result: dict[str, object] = {"exit_code": code, "stderr_tail": outcome.stderr_tail}
    if ranks is not None:
        result.update(ranks=ranks, failed_rank=outcome.failed_rank)
    tmp = job_dir / (RESULT_NAME + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(job_dir / RESULT_NAME)
    return 0


def run_spare() -> int:
    """Wait for a job on stdin (an empty line: the server went away first), then be that job's shim."""
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0
    order = json.loads(line)
    os.chdir(order["cwd"])
    os.environ.clear()
    os.environ.update(order["env"])
    for path, flags, fd in ((order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 2), (os.devnull, os.O_RDONLY, 0)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    return main(order["args"])


def main(argv: list[str]) -> int:
    if argv == ["--spare"]:
        return run_spare()
    ranks = None
    log_limit = DEFAULT_JOB_LOG_LIMIT_BYTES
    sandboxed = len(argv) >= 2 and argv[1] == "--sandboxed"
    if sandboxed:
        argv = [argv[0], *argv[2:]]
    if len(argv) >= 3 and argv[1] == "--ranks" and argv[2].isdigit():
        ranks, argv = int(argv[2]), [argv[0], *argv[3:]]
    if len(argv) >= 3 and argv[1] == "--log-limit" and argv[2].isdigit():
        log_limit, argv = int(argv[2]), [argv[0], *argv[3:]]
    if len(argv) < 3 or argv[1] != "--" or ranks == 0:
        print(
            "usage: python -m kiln.runners.local.job_shim JOB_DIR [--sandboxed] [--ranks N] [--log-limit BYTES] "
            "-- COMMAND...",
            file=sys.stderr,
        )
        return 2
    return run(Path(argv[0]), argv[2:], ranks, log_limit, sandboxed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
