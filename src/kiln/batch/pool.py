"""Local compute: mini-batches scored by a pool of worker processes, each running ``init()`` once.

Each mini-batch's result is written by its worker to a part file of its own (written aside, then renamed), so a
mini-batch tried twice — retried after an error or a timeout, or after its worker died — leaves one part, never two:
the parts are joined in order at the end and no row is lost or scored twice. A failing mini-batch is tried
``max_retries`` more times, then counted against ``error_threshold`` (in files, as Azure counts) and named in the
log with its files and exception. A worker that dies or overruns ``timeout`` is killed and replaced. Workers die
with the job's process (PR_SET_PDEATHSIG) and share its process group, which cancel stops."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from kiln.batch.scorer import Scorer, ScorerConfig

log = logging.getLogger("kiln.batch")
TRACEBACK_LIMIT = 4000
UNIX_PATH_MAX = 107
MAX_DEATHS = 3  # a mini-batch whose worker died this many times is a failure (it may be what kills them)


@dataclass
class MiniBatch:
    index: int
    files: list[str]
    tries: int = 0
    deaths: int = 0  # its worker died while scoring it (retried apart from max_retries, up to MAX_DEATHS times)


@dataclass
class Outcome:
    """How the mini-batches went: rows per scored mini-batch, and why each failed one failed."""

    rows: dict[int, int] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    failed_files: int = 0
    over_threshold: bool = False
    retries: int = 0
    replaced_workers: int = 0
    first_ready: float | None = None  # time.monotonic() when the first worker had run init()


class InitFailed(Exception):
    """A worker's init() (or loading the model or script) raised: no mini-batch can be scored."""


def preloaded(config: ScorerConfig) -> list[str]:
    """What the workers' fork server imports once: the scorer, pandas and scikit-learn. Not MLflow: its import starts
    threads, and a process forked from one with threads may hang on a lock one of them held."""
    return ["kiln.batch.scorer", "pandas", "sklearn.pipeline", "sklearn.linear_model"]


def fork_server_fits() -> bool:
    """Whether the fork server's socket (TEMP/pymp-XXXXXXXX/listener-XXXXXXXX) fits a Unix socket's path (107 bytes)."""
    return len(os.fsencode(tempfile.gettempdir())) + len("/pymp-xxxxxxxx/listener-xxxxxxxx") < UNIX_PATH_MAX


def part_path(parts: Path, index: int) -> Path:
    return parts / f"part-{index:06d}.csv"


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_main(connection: Connection, config: ScorerConfig, parts: str) -> None:
    """A worker: build the scorer once, then score what the parent sends until it sends None."""
    _die_with_parent()
    try:
        scorer = Scorer(config)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the job with it
        connection.send(("init_failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-TRACEBACK_LIMIT:]}"))
        return
    connection.send(("ready", os.getpid()))
    while True:
        message = connection.recv()
        if message is None:
            return
        index, files = message
        try:
            frame = scorer.score(files)
            target = part_path(Path(parts), index)
            aside = target.with_suffix(f".{os.getpid()}.tmp")
            frame.to_csv(aside, index=False)
            os.replace(aside, target)
            connection.send(("done", index, len(frame)))
        except Exception as exc:  # noqa: BLE001 - one mini-batch's failure, retried or counted by the parent
            connection.send(
                ("error", index, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-TRACEBACK_LIMIT:]}")
            )


@dataclass
class Worker:
    process: Any
    connection: Connection
    ready: bool = False
    batch: MiniBatch | None = None
    started: float = 0.0


class WorkerPool:
    """``size`` workers over a queue of mini-batches; see the module's docstring for what happens on failures."""

    def __init__(
        self, config: ScorerConfig, parts: Path, size: int, *, max_retries: int, timeout: float, error_threshold: int,
        on_progress: Callable[[Outcome], None] = lambda outcome: None,
    ) -> None:  # fmt: skip
        self.config, self.parts, self.size = config, parts, size
        self.max_retries, self.timeout, self.error_threshold = max_retries, timeout, error_threshold
        self.on_progress = on_progress
        # workers fork from a clean server process that imported the scorer's modules once (the job's process has
        # threads, MLflow's: never fork it); a replaced worker starts in a fraction of a second
        self.context: Any
        if fork_server_fits():
            self.context = multiprocessing.get_context("forkserver")
            self.context.set_forkserver_preload(preloaded(config))
        else:  # the fork server's socket would not fit its temp folder's path: each worker starts Python anew
            self.context = multiprocessing.get_context("spawn")
        self.workers: list[Worker] = []
        self.outcome = Outcome()

    def run(self, batches: list[MiniBatch]) -> Outcome:
        queue = deque(batches)
        self.workers = [self._start() for _ in range(min(self.size, len(batches)) or 0)]
        try:
            while queue or any(w.batch is not None for w in self.workers):
                for worker in self.workers:
                    if worker.ready and worker.batch is None and queue:
                        self._send_next(worker, queue)
                self._watch(queue)
                if self.outcome.over_threshold:
                    break
        finally:
            self._stop_all()
        return self.outcome

    def _watch(self, queue: deque[MiniBatch]) -> None:
        waitables: list[Any] = [w.connection for w in self.workers] + [w.process.sentinel for w in self.workers]
        for ready in wait(waitables, timeout=0.25):
            worker = next((w for w in self.workers if ready in (w.connection, w.process.sentinel)), None)
            if worker is None:
                continue
            try:
                message = worker.connection.recv() if ready is worker.connection else None
            except (EOFError, OSError):
                message = None
            if message is None:
                self._replace(worker, queue, "its worker process died" + self._exit_text(worker), died=True)
            else:
                self._receive(worker, message, queue)
        now = time.monotonic()
        for worker in list(self.workers):
            if worker.batch is not None and now - worker.started > self.timeout:
                self._replace(worker, queue, f"it took more than the timeout of {self.timeout:g} s")

    def _receive(self, worker: Worker, message: tuple[Any, ...], queue: deque[MiniBatch]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            if self.outcome.first_ready is None:
                self.outcome.first_ready = time.monotonic()
            log.debug("worker %s ready", message[1])
        elif kind == "init_failed":
            raise InitFailed(message[1])
        elif kind == "done":
            batch = worker.batch
            worker.batch = None
            if batch is not None and batch.index == message[1]:
                self.outcome.rows[batch.index] = message[2]
                self.on_progress(self.outcome)
        elif kind == "error":
            batch = worker.batch
            worker.batch = None
            if batch is not None:
                self._failed(batch, message[2], queue)

    def _replace(self, worker: Worker, queue: deque[MiniBatch], why: str, died: bool = False) -> None:
        """Kill ``worker`` (if it still runs), start another in its place. Its mini-batch is tried again: after a
        death apart from ``max_retries`` (the worker, not the mini-batch, may be at fault), up to MAX_DEATHS times;
        after a timeout as one of its tries."""
        batch = worker.batch
        self._kill(worker)
        self.workers[self.workers.index(worker)] = self._start()
        self.outcome.replaced_workers += 1
        log.warning("replaced a worker: %s%s", why, f" (mini-batch {batch.index})" if batch else "")
        if batch is not None and died and batch.deaths < MAX_DEATHS:
            batch.deaths += 1
            queue.appendleft(batch)
        elif batch is not None:
            self._failed(batch, why, queue)

    def _failed(self, batch: MiniBatch, reason: str, queue: deque[MiniBatch]) -> None:
        batch.tries += 1
        files = ", ".join(Path(f).name for f in batch.files)
        if batch.tries <= self.max_retries:
            self.outcome.retries += 1
            log.warning(
                "mini-batch %d (%s) failed, try %d of %d: %s",
                batch.index, files, batch.tries, self.max_retries + 1, reason.splitlines()[0],
            )  # fmt: skip
            queue.appendleft(batch)
            return
        self.outcome.failed[batch.index] = reason
        self.outcome.failed_files += len(batch.files)
        log.error(
            "mini-batch %d failed after %d tries; files: %s\n%s", batch.index, batch.tries, files, reason.rstrip()
        )
        if 0 <= self.error_threshold < self.outcome.failed_files:
            self.outcome.over_threshold = True
        self.on_progress(self.outcome)

    @staticmethod
    def _send_next(worker: Worker, queue: deque[MiniBatch]) -> None:
        """Send the next mini-batch to an idle worker. One that died since its last answer (its pipe is broken) keeps
        nothing: the mini-batch stays first in the queue and the worker is left to ``_watch``, which sees its exit and
        replaces it."""
        batch = queue[0]
        try:
            worker.connection.send((batch.index, batch.files))
        except OSError:
            worker.ready = False
            return
        queue.popleft()
        worker.batch, worker.started = batch, time.monotonic()

    def _start(self) -> Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=worker_main, args=(child, self.config, str(self.parts)), name="kiln-batch-worker", daemon=True
        )
        process.start()
        child.close()
        log.info("worker %d started", process.pid)
        return Worker(process, parent)

    @staticmethod
    def _exit_text(worker: Worker) -> str:
        worker.process.join(0.5)
        code = worker.process.exitcode
        return "" if code is None else f" (exit code {code})" if code >= 0 else f" (killed by signal {-code})"

    @staticmethod
    def _kill(worker: Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        worker.connection.close()

    def _stop_all(self) -> None:
        for worker in self.workers:
            try:
                if worker.process.is_alive() and worker.batch is None and worker.ready:
                    worker.connection.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            self._kill(worker)
