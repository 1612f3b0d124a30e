"""Runs a job's command as one process, or as the N ranks of a PyTorch distributed job (standard library only).

Every rank is the same command with its own ``RANK``/``LOCAL_RANK`` and the shared
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` that ``torch.distributed`` (``env://``)
reads, as ``torchrun`` and Azure ML set them. All ranks see all of the job's GPUs; rank i
uses ``cuda:LOCAL_RANK`` as torchrun scripts do. Their output goes into the one job log, each
line prefixed ``[rank i]``. When a rank fails, the others are stopped (SIGTERM to each rank's
process group, SIGKILL after a grace period), since the survivors would otherwise wait in a
collective forever, and the job's outcome is the failed rank's exit code and stderr tail.
"""

from __future__ import annotations

import collections
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import BinaryIO

from kiln.processes import free_port

STDERR_TAIL_LINES = 30
MAX_LINE_BYTES = 65536  # a longer line without a newline is written out in pieces
POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 5.0


def rank_environments(ranks: int, master_port: int) -> list[dict[str, str]]:
    """The variables that tell each rank of a one-machine distributed job who it is and where rank 0 listens."""
    shared = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(master_port),
        "WORLD_SIZE": str(ranks),
        "LOCAL_WORLD_SIZE": str(ranks),
        "NODE_RANK": "0",
        "GROUP_RANK": "0",
    }
    if "OMP_NUM_THREADS" not in os.environ:
        shared["OMP_NUM_THREADS"] = "1"  # as torchrun: N ranks of N threads each would oversubscribe the cores
    return [{**shared, "RANK": str(rank), "LOCAL_RANK": str(rank)} for rank in range(ranks)]


@dataclass
class RankProcess:
    """One process of the command, the log lines it owes, and the tail of its stderr."""

    index: int
    popen: subprocess.Popen[bytes]
    prefix: bytes
    stderr_tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=STDERR_TAIL_LINES))
    partial: dict[str, bytes] = field(default_factory=lambda: {"out": b"", "err": b""})

    def feed(self, stream: str, chunk: bytes, log: BinaryIO) -> None:
        """Copy output to the log: as it comes for a single process, whole prefixed lines for ranks."""
        pending = self.partial[stream] + chunk
        *lines, rest = pending.split(b"\n")
        if len(rest) > MAX_LINE_BYTES:
            lines, rest = [*lines, rest], b""
        self.partial[stream] = rest
        self._record(stream, lines, chunk, log)

    def flush(self, stream: str, log: BinaryIO) -> None:
        """The stream ended: what is left is its last line, without a newline."""
        rest, self.partial[stream] = self.partial[stream], b""
        if rest:
            self._record(stream, [rest], b"", log)

    def _record(self, stream: str, lines: list[bytes], chunk: bytes, log: BinaryIO) -> None:
        if self.prefix:
            log.write(b"".join(self.prefix + line + b"\n" for line in lines))
        elif chunk:
            log.write(chunk)
        if stream == "err":
            self.stderr_tail.extend(line.decode(errors="replace") + "\n" for line in lines)

    @property
    def failed(self) -> bool:
        return self.popen.returncode not in (None, 0)

    def signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class CommandOutcome:
    exit_code: int
    stderr_tail: str
    failed_rank: int | None = None


class RankLauncher:
    """Starts the command (``ranks``=None: one plain process), copies its output, reports how it ended."""

    def __init__(self, command: list[str], cwd: str, log: BinaryIO, ranks: int | None) -> None:
        self._command = command
        self._cwd = cwd
        self._log = log
        self._distributed = ranks is not None
        self._ranks = ranks or 1
        self._processes: list[RankProcess] = []
        self._failed: list[RankProcess] = []  # in the order they were seen to fail

    def run(self) -> CommandOutcome:
        environments = rank_environments(self._ranks, free_port()) if self._distributed else [{}]
        for index, extra in enumerate(environments):
            self._processes.append(self._start(index, extra))
        self._copy_until_all_end()
        failed = self._failed[0] if self._failed else None  # the others failed because they were stopped
        reported = failed or self._processes[0]
        return CommandOutcome(
            exit_code=reported.popen.returncode or 0,
            stderr_tail="".join(reported.stderr_tail),
            failed_rank=failed.index if failed and self._distributed else None,
        )

    def _start(self, index: int, extra: dict[str, str]) -> RankProcess:
        popen = subprocess.Popen(
            self._command, cwd=self._cwd, env={**os.environ, **extra}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_signals,
            # a rank gets its own process group, so that the shim can stop one rank with all it started
            process_group=0 if self._distributed else None,
        )  # fmt: skip
        return RankProcess(index, popen, f"[rank {index}] ".encode() if self._distributed else b"")

    def _copy_until_all_end(self) -> None:
        selector = selectors.DefaultSelector()
        for process in self._processes:
            assert process.popen.stdout and process.popen.stderr
            selector.register(process.popen.stdout, selectors.EVENT_READ, (process, "out"))
            selector.register(process.popen.stderr, selectors.EVENT_READ, (process, "err"))
        kill_at: float | None = None
        while selector.get_map() or any(p.popen.poll() is None for p in self._processes):
            if selector.get_map():
                events = selector.select(POLL_SECONDS)
            else:  # every stream closed, some process still running
                events = []
                time.sleep(POLL_SECONDS)
            for key, _ in events:
                process, stream = key.data
                chunk = os.read(key.fd, 65536)
                if chunk:
                    process.feed(stream, chunk, self._log)
                else:
                    selector.unregister(key.fileobj)
                    process.flush(stream, self._log)
            kill_at = self._stop_others_after_a_failure(kill_at)
        selector.close()

    def _stop_others_after_a_failure(self, kill_at: float | None) -> float | None:
        """SIGTERM the other ranks once one has failed; SIGKILL whatever is left after the grace period."""
        for process in self._processes:
            if process.popen.poll() is not None and process.failed and process not in self._failed:
                self._failed.append(process)
        if not self._failed or len(self._processes) == 1:
            return None
        if kill_at is None:
            for process in self._processes:
                process.signal_group(signal.SIGTERM)
            return time.monotonic() + STOP_GRACE_SECONDS
        if time.monotonic() >= kill_at:
            for process in self._processes:
                process.signal_group(signal.SIGKILL)
            return float("inf")  # killed: nothing more to send
        return kill_at


def _default_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
