"""Adaptive batching: concurrent requests merged into one predict call, then split back.

Triton's dynamic batcher is the model: requests queue; a batch takes queued requests up to
``max_batch_size`` rows, and a forming batch waits at most ``max_queue_delay_ms`` for more.
It also closes early once the event loop has gone two rounds without a new request (one
that has reached the socket is parsed and queued within a round), so a lone request pays
no delay, while under load the batch fills during the previous predict call. Requests with
``params`` or different columns predict on their own. If a merged batch fails, each of its
requests is retried alone, so one bad request cannot fail its neighbours.

A batch runs in the scoring thread, except, when the scorer allows it (``inline_under_s``), a
batch whose size has been measured to predict faster than that: it runs on the event loop, which
saves the two thread hops (and the GIL hand-over) that cost more than a small array predict.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from kiln.serving.replica.payloads import ModelInput, Prediction, merge_inputs, split_prediction
from kiln.specs.replica import BatchingSettings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    item: ModelInput
    future: asyncio.Future[Prediction]


class DynamicBatcher:
    """``predict`` runs in ``executor`` (one thread: one model instance); ``on_batch`` is told
    (requests, rows) for each predict call."""

    def __init__(
        self,
        predict: Callable[[ModelInput], Prediction],
        settings: BatchingSettings,
        executor: Executor,
        on_batch: Callable[[int, int], None] = lambda requests, rows: None,
        inline_under_s: float = 0.0,
    ) -> None:
        self._predict = predict
        self._inline_under = inline_under_s
        self._cost: dict[int, float] = {}  # rows.bit_length() → moving average of a batch's predict seconds
        self._max_rows = settings.max_batch_size
        self._max_delay = settings.max_queue_delay_ms / 1000
        self._executor = executor
        self._on_batch = on_batch
        self._queue: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dynamic-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for pending in self._queue:
            pending.future.cancel()

    async def submit(self, item: ModelInput) -> Prediction:
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(item, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = await self._collect()
            if batch:
                await self._execute(batch)

    def _pop_live(self) -> _Pending | None:
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():  # a request that timed out while queued is dropped
                return pending
        return None

    async def _collect(self) -> list[_Pending]:
        first = self._pop_live()
        if first is None:
            return []
        batch, rows, key = [first], first.item.rows, first.item.batch_key
        if key is None or rows >= self._max_rows:
            return batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_delay
        quiet_rounds = 0
        while True:
            grew = False
            while self._queue:
                head = self._queue[0]
                if head.future.done():
                    self._queue.popleft()
                    continue
                if head.item.batch_key != key or rows + head.item.rows > self._max_rows:
                    return batch  # it starts the next batch
                self._queue.popleft()
                batch.append(head)
                rows += head.item.rows
                grew = True
            if rows >= self._max_rows or loop.time() >= deadline:
                return batch
            quiet_rounds = 0 if grew else quiet_rounds + 1
            if quiet_rounds >= 2:
                return batch
            await asyncio.sleep(0)

    async def _execute(self, batch: list[_Pending]) -> None:
        items = [pending.item for pending in batch]
        self._on_batch(len(items), sum(item.rows for item in items))
        loop = asyncio.get_running_loop()
        cost = self._cost.get(sum(item.rows for item in items).bit_length())
        try:
            if cost is not None and cost < self._inline_under:
                results = self._predict_batch(items)
            else:
                results = await loop.run_in_executor(self._executor, self._predict_batch, items)
        except Exception as exc:  # the executor itself failed (shut down): every request hears it
            results = [exc] * len(items)
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():
                continue
            if isinstance(result, Exception):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)

    def _predict_batch(self, items: list[ModelInput]) -> list[Prediction | Exception]:
        started = time.perf_counter()
        results = self._predict_items(items)
        size = sum(item.rows for item in items).bit_length()
        seconds = time.perf_counter() - started
        known = self._cost.get(size)
        self._cost[size] = seconds if known is None else 0.8 * known + 0.2 * seconds
        return results

    def _predict_items(self, items: list[ModelInput]) -> list[Prediction | Exception]:
        try:
            merged = merge_inputs(items)
            prediction = self._predict(merged)
            return list(split_prediction(prediction, items)) if len(items) > 1 else [prediction]
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            log.info("a batch of %d requests failed (%s); predicting them one by one", len(items), exc)
        results: list[Prediction | Exception] = []
        for item in items:
            try:
                results.append(self._predict(item))
            except Exception as exc:
                results.append(exc)
        return results
