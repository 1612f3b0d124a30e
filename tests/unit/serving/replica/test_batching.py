"""The dynamic batcher: merged predict calls, answers split back, failures kept apart."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from kiln.errors import ScoringFailed
from kiln.serving.replica.batching import DynamicBatcher
from kiln.serving.replica.payloads import ModelInput, Prediction
from kiln.specs.replica import BatchingSettings


class DoublingModel:
    """Predicts 2x; a row of -1 fails the whole call, as a model's predict would."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.calls: list[int] = []
        self.seconds = seconds

    def predict(self, item: ModelInput) -> Prediction:
        import time

        time.sleep(self.seconds)
        self.calls.append(item.rows)
        values = np.asarray(item.columns["x"], dtype=float)
        if (values == -1).any():
            raise ScoringFailed("bad row")
        return Prediction.from_model_output(values * 2, item.rows)


def _run(model: DoublingModel, settings: BatchingSettings, items: list[ModelInput]) -> list[object]:
    async def go() -> list[object]:
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(model.predict, settings, executor)
            batcher.start()
            try:
                results = await asyncio.gather(*(batcher.submit(item) for item in items), return_exceptions=True)
            finally:
                await batcher.stop()
        return list(results)

    return asyncio.run(go())


def _rows(*values: float) -> ModelInput:
    return ModelInput({"x": list(values)}, len(values))


def test_concurrent_requests_share_predict_calls_and_get_their_own_rows() -> None:
    model = DoublingModel(seconds=0.01)
    items = [_rows(float(i)) for i in range(40)] + [_rows(100.0, 101.0)]
    results = _run(model, BatchingSettings(max_batch_size=16, max_queue_delay_ms=50), items)
    assert [r.outputs["predict"].tolist() for r in results] == [[2.0 * i] for i in range(40)] + [[200.0, 202.0]]  # type: ignore[union-attr]
    assert len(model.calls) < len(items) and max(model.calls) <= 16 and sum(model.calls) == 42


def test_batch_size_one_turns_batching_off() -> None:
    model = DoublingModel()
    _run(model, BatchingSettings(max_batch_size=1, max_queue_delay_ms=50), [_rows(1.0), _rows(2.0), _rows(3.0)])
    assert model.calls == [1, 1, 1]


def test_a_failing_request_does_not_fail_its_batch_neighbours() -> None:
    model = DoublingModel()
    results = _run(
        model, BatchingSettings(max_batch_size=8, max_queue_delay_ms=50), [_rows(1.0), _rows(-1.0), _rows(3.0)]
    )
    assert isinstance(results[1], ScoringFailed)
    assert results[0].outputs["predict"].tolist() == [2.0] and results[2].outputs["predict"].tolist() == [6.0]  # type: ignore[union-attr]


def test_requests_with_params_or_other_columns_predict_alone() -> None:
    model = DoublingModel()
    with_params = ModelInput({"x": [1.0]}, 1, {"threshold": 0.5})
    _run(model, BatchingSettings(max_batch_size=8, max_queue_delay_ms=50), [_rows(1.0), with_params, _rows(2.0)])
    assert 1 in model.calls and len(model.calls) >= 2


def test_a_timed_out_request_is_dropped_from_the_queue() -> None:
    model = DoublingModel(seconds=0.05)

    async def go() -> None:
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(model.predict, BatchingSettings(max_batch_size=1), executor)
            batcher.start()
            busy = asyncio.ensure_future(batcher.submit(_rows(1.0)))
            await asyncio.sleep(0.005)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(batcher.submit(_rows(2.0)), 0.01)
            await busy
            assert (await batcher.submit(_rows(3.0))).outputs["predict"].tolist() == [6.0]
            await batcher.stop()

    asyncio.run(go())
    assert model.calls == [1, 1]


def test_batches_measured_fast_run_on_the_event_loop_with_the_same_answers() -> None:
    """With ``inline_under_s``, a batch size first predicts in the scoring thread (measured), then,
    being fast, on the loop's thread; a slow model always in the scoring thread. Answers unchanged."""

    class ThreadNoting(DoublingModel):
        def __init__(self, seconds: float = 0.0) -> None:
            super().__init__(seconds)
            self.threads: list[str] = []

        def predict(self, item: ModelInput) -> Prediction:
            import threading

            self.threads.append(threading.current_thread().name)
            return super().predict(item)

    async def go(model: ThreadNoting) -> list[list[float]]:
        answers = []
        with ThreadPoolExecutor(1, thread_name_prefix="scoring") as executor:
            batcher = DynamicBatcher(model.predict, BatchingSettings(max_batch_size=1), executor, inline_under_s=0.005)
            batcher.start()
            try:
                for i in range(4):  # one at a time: every batch has one row
                    answers.append((await batcher.submit(_rows(float(i)))).outputs["predict"].tolist())
            finally:
                await batcher.stop()
        return answers

    fast = ThreadNoting()
    assert asyncio.run(go(fast)) == [[0.0], [2.0], [4.0], [6.0]]
    assert fast.threads[0].startswith("scoring") and fast.threads[1:] == ["MainThread"] * 3
    slow = ThreadNoting(seconds=0.01)
    assert asyncio.run(go(slow)) == [[0.0], [2.0], [4.0], [6.0]]
    assert all(name.startswith("scoring") for name in slow.threads)
