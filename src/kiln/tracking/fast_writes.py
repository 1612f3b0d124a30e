"""MLflow's four hot write calls answered in the workspace server, through MLflow's own store.

``runs/log-metric``, ``runs/log-batch``, ``runs/log-parameter`` and ``runs/set-tag`` (under ``/api``
and ``/ajax-api``, as MLflow serves them) are what a training loop sends; relayed to MLflow's
child each costs its Flask stack on top of the write. Here a request is read and validated by
MLflow's own functions (``mlflow.server.handlers._get_request_message`` with the handler's schema,
so a bad request gets MLflow's status and ``error_code`` JSON), then written by MLflow's
``SqlAlchemyStore`` on the same database as the child, in one writer thread (the event loop never
waits on the database). Group commit: single ``log_metric`` calls that arrive while the writer is
busy are written together, one transaction per run (``_log_metrics``, what ``log_metric`` itself
calls: same checks, same de-duplication); if that transaction fails, each call is written alone
so each gets the answer MLflow would give it. Everything else keeps going to MLflow's child.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiln.tracking import bulk_metrics
from kiln.tracking.mlflow_import import import_mlflow, mlflow_imported
from kiln.tracking.run_store import DEFAULT_ARTIFACT_ROOT, is_sql_store, open_sql_store

log = logging.getLogger(__name__)

WRITE_CALLS = ("runs/log-metric", "runs/log-batch", "runs/log-parameter", "runs/set-tag")
PATHS = {f"/{api}/2.0/mlflow/{call}": call for api in ("api", "ajax-api") for call in WRITE_CALLS}
_GROUP_LIMIT = 1000  # metrics in one transaction: MLflow's own log_batch limit
_EMPTY = b"{}"


@dataclass
class _Request:
    """What MLflow's request readers use of a Flask request (method, content type, JSON body)."""

    method: str
    content_type: str | None
    body: bytes
    args: dict[str, str] = field(default_factory=dict)

    def get_json(self, force: bool = True, silent: bool = True) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:  # Flask's get_json(silent=True): None for a body that is not JSON
            return None


@dataclass
class _Write:
    run_id: str
    apply: Callable[[Any], None]  # the store call MLflow's handler makes
    metric: Any = None  # set for a plain log_metric, which may share a transaction
    future: asyncio.Future[None] | None = None


class FastWrites:
    """``answer(call, content_type, body)`` → (status, JSON body), as MLflow's handler answers."""

    def __init__(self, store_uri: str, artifact_root: str = DEFAULT_ARTIFACT_ROOT) -> None:
        self._store_uri = store_uri
        self._artifact_root = artifact_root
        self._store: Any = None
        self._pending: list[tuple[_Write, asyncio.AbstractEventLoop]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    @staticmethod
    def handles(store_uri: str) -> bool:
        """MLflow's SQL stores only (kiln always gives MLflow one; a file store would go to the child)."""
        return is_sql_store(store_uri)

    async def answer(self, call: str, content_type: str | None, body: bytes) -> tuple[int, bytes]:
        if not mlflow_imported():  # a job's first write may come before the server's warm-up imported MLflow
            await asyncio.to_thread(import_mlflow)
        from mlflow.exceptions import MlflowException

        request = _Request("POST", content_type, body)
        try:
            write = _READERS[call](request)
            await self._submit(write)
        except MlflowException as exc:
            return exc.get_http_status_code(), exc.serialize_as_json().encode()
        except Exception as exc:  # noqa: BLE001 - MLflow's server answers 500 too; here in MLflow's JSON
            log.exception("MLflow write %s failed", call)
            error = _internal_error(exc)
            assert isinstance(error, MlflowException)
            return error.get_http_status_code(), error.serialize_as_json().encode()
        return 200, _EMPTY

    async def _submit(self, write: _Write) -> None:
        loop = asyncio.get_running_loop()
        write.future = loop.create_future()
        with self._wake:
            if self._closed:
                raise RuntimeError("the tracking writer is closed")
            self._pending.append((write, loop))
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="mlflow-fast-writes", daemon=True)
                self._thread.start()
            self._wake.notify()
        await write.future

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)

    # The writer thread ------------------------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                batch, self._pending = self._pending, []
                if not batch and self._closed:
                    return
            self._write(batch)

    def _write(self, batch: list[tuple[_Write, asyncio.AbstractEventLoop]]) -> None:
        try:
            store = self._open_store()
        except Exception as exc:  # noqa: BLE001 - every caller gets MLflow's answer to a store it cannot open
            for write, loop in batch:
                _settle(write, loop, _internal_error(exc))
            return
        groups: dict[str, list[tuple[_Write, asyncio.AbstractEventLoop]]] = defaultdict(list)
        for write, loop in batch:
            if write.metric is not None:
                groups[write.run_id].append((write, loop))
            else:
                _settle(write, loop, _attempt(write.apply, store))
        for run_id, group in groups.items():
            for start in range(0, len(group), _GROUP_LIMIT):
                self._write_metrics(store, run_id, group[start : start + _GROUP_LIMIT])

    @staticmethod
    def _write_metrics(store: Any, run_id: str, group: list[tuple[_Write, asyncio.AbstractEventLoop]]) -> None:
        # what store.log_metric does for each (its checks, its de-duplication), in one transaction
        if _attempt(lambda s: _store_metrics(s, run_id, [w.metric for w, _ in group]), store) is None:
            for write, loop in group:
                _settle(write, loop, None)
            return
        for write, loop in group:  # the shared transaction failed: each alone, for the answer MLflow gives it
            _settle(write, loop, _attempt(write.apply, store))

    def _open_store(self) -> Any:
        if self._store is None:
            self._store = open_sql_store(self._store_uri, self._artifact_root)
        return self._store


def _store_metrics(store: Any, run_id: str, metrics: list[Any]) -> None:
    if bulk_metrics.supports(store):
        bulk_metrics.log_metrics(store, run_id, metrics)
    else:
        store._log_metrics(run_id, metrics)


def _attempt(apply: Callable[[Any], None], store: Any) -> BaseException | None:
    from mlflow.exceptions import MlflowException

    try:
        apply(store)
    except MlflowException as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - MLflow's server answers these as INTERNAL_ERROR too
        log.exception("MLflow write failed")
        return _internal_error(exc)
    return None


def _internal_error(exc: BaseException) -> BaseException:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

    return MlflowException(str(exc), INTERNAL_ERROR)


def _settle(write: _Write, loop: asyncio.AbstractEventLoop, error: BaseException | None) -> None:
    future = write.future
    assert future is not None

    def settle() -> None:
        if future.done():  # the caller went away
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    loop.call_soon_threadsafe(settle)


# The readers: MLflow's handler for each call (mlflow.server.handlers), up to its store call ----------
def _log_metric(request: _Request) -> _Write:
    from mlflow.entities import Metric
    from mlflow.protos.service_pb2 import LogMetric
    from mlflow.server import handlers as h
    from mlflow.utils.validation import _validate_metric

    message = h._get_request_message(
        LogMetric(),
        flask_request=request,
        schema={
            "run_id": [h._assert_required, h._assert_string],
            "key": [h._assert_required, h._assert_string],
            "value": [h._assert_required, h._assert_floatlike],
            "timestamp": [h._assert_intlike, h._assert_required],
            "step": [h._assert_intlike],
            "model_id": [h._assert_string],
            "dataset_name": [h._assert_string],
            "dataset_digest": [h._assert_string],
        },
    )
    metric = Metric(
        message.key,
        message.value,
        message.timestamp,
        message.step,
        message.model_id or None,
        message.dataset_name or None,
        message.dataset_digest or None,
        message.run_id or None,
    )
    run_id = message.run_id or message.run_uuid
    if metric.model_id is None:
        # checked here as store.log_metric checks it, so that a shared transaction never fails for it
        _validate_metric(metric.key, metric.value, metric.timestamp, metric.step, path="")
    return _Write(
        run_id, lambda store: store.log_metric(run_id, metric), metric=metric if metric.model_id is None else None
    )


def _log_param(request: _Request) -> _Write:
    from mlflow.entities import Param
    from mlflow.protos.service_pb2 import LogParam

    run_id, param = _key_value(request, LogParam(), Param)
    return _Write(run_id, lambda store: store.log_param(run_id, param))


def _set_tag(request: _Request) -> _Write:
    from mlflow.entities import RunTag
    from mlflow.protos.service_pb2 import SetTag

    run_id, tag = _key_value(request, SetTag(), RunTag)
    return _Write(run_id, lambda store: store.set_tag(run_id, tag))


def _key_value(request: _Request, message_type: Any, entity: Callable[[str, str], Any]) -> tuple[str, Any]:
    """A ``log-parameter`` or ``set-tag`` body, read and checked as MLflow's handlers do (the same schema):
    its run id and the ``entity(key, value)`` to write."""
    from mlflow.server import handlers as h

    message = h._get_request_message(
        message_type,
        flask_request=request,
        schema={
            "run_id": [h._assert_required, h._assert_string],
            "key": [h._assert_required, h._assert_string],
            "value": [h._assert_string],
        },
    )
    return message.run_id or message.run_uuid, entity(message.key, message.value)


def _log_batch(request: _Request) -> _Write:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.protos.service_pb2 import LogBatch
    from mlflow.server import handlers as h
    from mlflow.utils.validation import _validate_batch_log_api_req

    def metrics_fields_present(metrics: list[Any]) -> None:
        for idx, m in enumerate(metrics):
            h._assert_required(m.get("key"), path=f"metrics[{idx}].key")
            h._assert_required(m.get("value"), path=f"metrics[{idx}].value")
            h._assert_required(m.get("timestamp"), path=f"metrics[{idx}].timestamp")

    def params_fields_present(params: list[Any]) -> None:
        for idx, param in enumerate(params):
            h._assert_required(param.get("key"), path=f"params[{idx}].key")

    def tags_fields_present(tags: list[Any]) -> None:
        for idx, tag in enumerate(tags):
            h._assert_required(tag.get("key"), path=f"tags[{idx}].key")

    _validate_batch_log_api_req(h._get_request_json(request))
    message = h._get_request_message(
        LogBatch(),
        flask_request=request,
        schema={
            "run_id": [h._assert_string, h._assert_required],
            "metrics": [h._assert_array, metrics_fields_present],
            "params": [h._assert_array, params_fields_present],
            "tags": [h._assert_array, tags_fields_present],
        },
    )
    metrics = [Metric.from_proto(proto) for proto in message.metrics]
    params = [Param.from_proto(proto) for proto in message.params]
    tags = [RunTag.from_proto(proto) for proto in message.tags]
    run_id = message.run_id
    if params or tags or any(m.model_id for m in metrics):
        return _Write(run_id, lambda store: store.log_batch(run_id=run_id, metrics=metrics, params=params, tags=tags))
    return _Write(run_id, lambda store: _log_metric_batch(store, run_id, metrics))


def _log_metric_batch(store: Any, run_id: str, metrics: list[Any]) -> None:
    """``store.log_batch`` with metrics only: its checks, in its order, then the metrics in bulk."""
    from mlflow.utils.validation import (
        _validate_batch_log_data,
        _validate_batch_log_limits,
        _validate_run_id,
    )

    _validate_run_id(run_id)
    metrics, _, _ = _validate_batch_log_data(metrics, [], [])
    _validate_batch_log_limits(metrics, [], [])
    _store_metrics(store, run_id, metrics)


_READERS: dict[str, Callable[[_Request], _Write]] = {
    "runs/log-metric": _log_metric,
    "runs/log-batch": _log_batch,
    "runs/log-parameter": _log_param,
    "runs/set-tag": _set_tag,
}
