"""The batch worker pool's bookkeeping when a worker dies between two mini-batches (no server, no model)."""

from __future__ import annotations

import multiprocessing
from collections import deque

from kiln.batch.pool import MiniBatch, Worker, WorkerPool


def _worker(connection_open: bool) -> tuple[Worker, object]:
    parent, child = multiprocessing.Pipe()
    if not connection_open:
        child.close()  # what a worker killed while idle leaves: the pool's end of a pipe nobody reads
    return Worker(process=None, connection=parent, ready=True), child


def test_an_idle_worker_that_died_keeps_no_mini_batch_and_is_left_for_replacement() -> None:
    worker, _ = _worker(connection_open=False)
    queue = deque([MiniBatch(0, ["a.csv"]), MiniBatch(1, ["b.csv"])])
    WorkerPool._send_next(worker, queue)
    assert worker.batch is None and not worker.ready  # not sent again; _watch sees its exit and replaces it
    assert [batch.index for batch in queue] == [0, 1]  # nothing lost, still first in line


def test_a_live_worker_gets_the_first_mini_batch_of_the_queue() -> None:
    worker, child = _worker(connection_open=True)
    queue = deque([MiniBatch(0, ["a.csv"]), MiniBatch(1, ["b.csv"])])
    WorkerPool._send_next(worker, queue)
    assert child.recv() == (0, ["a.csv"])  # type: ignore[attr-defined]
    assert worker.batch is not None and worker.batch.index == 0 and [batch.index for batch in queue] == [1]
