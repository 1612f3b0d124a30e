"""kiln's in-process answers to MLflow's hot write calls against MLflow's own server code.

The reference is MLflow's Flask app (``mlflow.server.app``, the handlers ``mlflow server`` runs) on
one SQLite store; kiln's ``FastWrites`` writes a second one. The same requests must get the same
status and error JSON, and the same writes must leave the same metrics, histories, latest values,
params and tags — also when 20 callers write at once and kiln commits them together.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kiln.tracking.fast_writes import PATHS, FastWrites

pytest.importorskip("mlflow.server")

Body = dict[str, Any] | bytes


class Mlflow:
    """MLflow's own server app, in this process, its handlers given their own store (not through
    ``initialize_backend_stores``, which changes how every later MLflow client in the process
    resolves artifact locations)."""

    def __init__(self, uri: str, patch: pytest.MonkeyPatch) -> None:
        from mlflow.server import app, handlers
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        self.store = SqlAlchemyStore(uri, "mlflow-artifacts:/")
        patch.setattr(handlers, "_get_tracking_store", lambda *args, **kwargs: self.store)
        self.http = app.test_client()

    def answer(self, path: str, body: Body, content_type: str | None) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content_type else {}
        response = self.http.post(path, data=data, headers=headers)
        return response.status_code, json.loads(response.data)


class Kiln:
    def __init__(self, uri: str) -> None:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        self.writes = FastWrites(uri)
        self.store = SqlAlchemyStore(uri, "mlflow-artifacts:/")

    def answer(self, path: str, body: Body, content_type: str | None) -> tuple[int, Any]:
        return asyncio.run(self.answer_async(path, body, content_type))

    async def answer_async(self, path: str, body: Body, content_type: str | None) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, answer = await self.writes.answer(PATHS[path], content_type, data)
        return status, json.loads(answer)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mlflow, Kiln]]:
    """One store each for the module (MLflow makes its tables in seconds); every test makes its own runs."""
    tmp_path = tmp_path_factory.mktemp("stores")
    with pytest.MonkeyPatch.context() as patch:
        mlflow = Mlflow(f"sqlite:///{tmp_path / 'mlflow.db'}", patch)
        kiln = Kiln(f"sqlite:///{tmp_path / 'kiln.db'}")
        yield mlflow, kiln
        kiln.writes.close()


def new_run(store: Any) -> str:
    experiment = store.create_experiment(f"experiment-{time.time_ns()}")
    return str(store.create_run(experiment, "tester", int(time.time() * 1000), [], "run").info.run_id)


def same_answer(pair: tuple[Mlflow, Kiln], path: str, body: Any, content_type: str | None = "application/json") -> Any:
    """Ask both (``RUN`` in the body stands for each side's run id); both answers must be equal."""
    mlflow, kiln = pair
    runs = (new_run(mlflow.store), new_run(kiln.store))
    answers = []
    for side, run in zip(pair, runs, strict=True):
        raw = body if isinstance(body, bytes) else json.dumps(body).replace('"RUN"', json.dumps(run)).encode()
        status, answer = side.answer(path, raw, content_type)
        answers.append((status, json.loads(json.dumps(answer).replace(run, "RUN"))))
    assert answers[0] == answers[1]
    return answers[0]


def test_every_fast_path_is_a_path_mlflow_serves_for_post() -> None:
    from mlflow.server import app

    served = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods or ()}
    for path in PATHS:
        assert (path, "POST") in served, path


NOW = 1_700_000_000_000
PATH = "/api/2.0/mlflow/runs/log-metric"
BAD_REQUESTS = [
    ("log-metric", {"run_id": "RUN", "key": "k", "timestamp": NOW}),  # no value
    ("log-metric", {"run_id": "RUN", "value": 1.0, "timestamp": NOW}),  # no key
    ("log-metric", {"run_id": "RUN", "key": "k", "value": "abc", "timestamp": NOW}),
    ("log-metric", {"run_id": "RUN", "key": "k", "value": 1.0}),  # no timestamp
    ("log-metric", {"run_id": "RUN", "key": "k", "value": 1.0, "timestamp": NOW, "step": "x"}),
    ("log-metric", {"run_id": "RUN", "key": "k", "value": 1.0, "timestamp": "soon"}),
    ("log-metric", {"key": "k", "value": 1.0, "timestamp": NOW}),  # no run
    ("log-metric", {"run_id": "0" * 32, "key": "k", "value": 1.0, "timestamp": NOW}),  # no such run
    ("log-metric", {"run_id": "RUN", "key": "../up", "value": 1.0, "timestamp": NOW}),
    ("log-metric", {"run_id": "RUN", "key": "k" * 300, "value": 1.0, "timestamp": NOW}),
    ("log-metric", {"run_id": "RUN", "key": "k", "value": 1.0, "timestamp": NOW, "run_uuid": "x"}),
    ("log-metric", b"not json"),
    ("log-parameter", {"run_id": "RUN", "key": "p"}),
    ("log-parameter", {"run_id": "RUN", "value": "v"}),
    ("log-parameter", {"run_id": "RUN", "key": "p", "value": "v" * 7000}),
    ("log-parameter", {"run_id": "RUN", "key": "p", "value": 3}),
    ("set-tag", {"run_id": "RUN", "value": "v"}),
    ("set-tag", {"run_id": "RUN", "key": "t", "value": "v" * 9000}),
    ("set-tag", {"run_id": "0" * 32, "key": "t", "value": "v"}),
    ("log-batch", {"run_id": "RUN", "metrics": [{"key": "k", "value": 1.0}]}),
    ("log-batch", {"run_id": "RUN", "metrics": [{"key": "k", "value": 1.0, "timestamp": NOW, "step": i} for i in range(1001)]}),
    ("log-batch", {"run_id": "RUN", "params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]}),
    ("log-batch", {"run_id": "RUN", "metrics": [{"key": "a/../b", "value": 1.0, "timestamp": NOW}]}),
    ("log-batch", {"run_id": "RUN", "metrics": "many"}),
    ("log-batch", {"metrics": []}),
    ("log-batch", {"run_id": "0" * 32, "metrics": [{"key": "k", "value": 1.0, "timestamp": NOW}]}),
    ("log-batch", {"run_id": "0" * 32}),
]  # fmt: skip


@pytest.mark.parametrize(("call", "body"), BAD_REQUESTS)
def test_an_odd_request_gets_mlflows_own_answer(pair: tuple[Mlflow, Kiln], call: str, body: Any) -> None:
    """Refused with MLflow's status and error JSON, or (too long a value: truncated) accepted alike."""
    status, answer = same_answer(pair, f"/api/2.0/mlflow/runs/{call}", body)
    assert answer == {} if status == 200 else answer["error_code"], answer


def test_a_body_that_is_not_an_object_fails_as_in_mlflow_but_in_json(pair: tuple[Mlflow, Kiln]) -> None:
    """MLflow's handler fails on it (a 500 page from Flask); kiln answers the same status in MLflow's JSON."""
    mlflow, kiln = pair
    assert mlflow.http.post(PATH, data=b"[1, 2]", headers={"Content-Type": "application/json"}).status_code == 500
    status, answer = kiln.answer(PATH, b"[1, 2]", "application/json")
    assert status == 500 and answer["error_code"] == "INTERNAL_ERROR" and answer["message"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json; charset=utf-8"])
def test_content_types_are_checked_as_mlflow_checks_them(pair: tuple[Mlflow, Kiln], content_type: str | None) -> None:
    body = {"run_id": "RUN", "key": "k", "value": 1.0, "timestamp": NOW}
    same_answer(pair, "/ajax-api/2.0/mlflow/runs/log-metric", body, content_type)


def test_changing_a_param_and_writing_to_a_deleted_run_are_refused_alike(pair: tuple[Mlflow, Kiln]) -> None:
    mlflow, kiln = pair
    runs = [new_run(mlflow.store), new_run(kiln.store)]
    for side, run in zip(pair, runs, strict=True):
        assert side.answer("/api/2.0/mlflow/runs/log-parameter", {"run_id": run, "key": "p", "value": "1"}, "application/json")[0] == 200  # fmt: skip
    changed = [
        side.answer("/api/2.0/mlflow/runs/log-parameter", {"run_id": run, "key": "p", "value": "2"}, "application/json")
        for side, run in zip(pair, runs, strict=True)
    ]
    assert json.dumps(changed[0]).replace(runs[0], "RUN") == json.dumps(changed[1]).replace(runs[1], "RUN")
    assert changed[0][0] == 400
    for side, run in zip(pair, runs, strict=True):
        side.store.delete_run(run)
    for call, body in [
        ("log-metric", {"key": "k", "value": 1.0, "timestamp": NOW}),
        ("log-batch", {"metrics": [{"key": "k", "value": 1.0, "timestamp": NOW}]}),
        ("set-tag", {"key": "t", "value": "v"}),
    ]:
        answers = [
            side.answer(f"/api/2.0/mlflow/runs/{call}", {"run_id": run, **body}, "application/json")
            for side, run in zip(pair, runs, strict=True)
        ]
        assert json.dumps(answers[0]).replace(runs[0], "RUN") == json.dumps(answers[1]).replace(runs[1], "RUN")
        assert answers[0][0] == 400, answers[0]


def written(store: Any, run_id: str) -> dict[str, Any]:
    """Everything a reader of the run sees: latest values, every history, params, tags (not MLflow's own)."""
    run = store.get_run(run_id)
    histories = {
        key: sorted(
            (m.step, m.timestamp, m.value if not math.isnan(m.value) else "nan")
            for m in store.get_metric_history(run_id, key)
        )  # fmt: skip
        for key in run.data.metrics
    }
    latest = {key: "nan" if math.isnan(value) else value for key, value in run.data.metrics.items()}
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    return {"latest": latest, "histories": histories, "params": run.data.params, "tags": tags}


WRITES: list[tuple[str, dict[str, Any]]] = [
    ("log-metric", {"key": "loss", "value": 0.5, "timestamp": NOW, "step": 0}),
    ("log-metric", {"key": "loss", "value": 0.5, "timestamp": NOW, "step": 0}),  # the same value again: kept once
    ("log-metric", {"key": "loss", "value": 0.25, "timestamp": NOW + 1, "step": 2}),
    ("log-metric", {"key": "loss", "value": 0.75, "timestamp": NOW + 2, "step": 1}),  # older step: not the latest
    ("log-metric", {"key": "acc", "value": "NaN", "timestamp": NOW, "step": 0}),
    ("log-metric", {"key": "acc", "value": "Infinity", "timestamp": NOW, "step": 1}),
    ("log-metric", {"key": "acc", "value": "-Infinity", "timestamp": NOW, "step": 1}),  # same step and time
    ("log-metric", {"key": "no_step", "value": 3, "timestamp": NOW}),
    ("log-parameter", {"key": "lr", "value": "0.1"}),
    ("log-parameter", {"key": "lr", "value": "0.1"}),  # the same value again is allowed
    ("set-tag", {"key": "stage", "value": "a"}),
    ("set-tag", {"key": "stage", "value": "b"}),
    ("set-tag", {"key": "mlflow.runName", "value": "renamed"}),
    ("log-batch", {"metrics": [
        {"key": "b", "value": float(i % 7), "timestamp": NOW + i % 3, "step": i // 3} for i in range(300)
    ] + [{"key": "b", "value": 1.0, "timestamp": NOW, "step": 0}] * 3}),
    ("log-batch", {"metrics": [{"key": "loss", "value": 0.1, "timestamp": NOW, "step": 2}]}),  # ties on step
    ("log-batch", {"metrics": [{"key": "m", "value": 1.0, "timestamp": NOW}], "params": [{"key": "bs", "value": "8"}],
                   "tags": [{"key": "t", "value": "v"}]}),
    ("log-batch", {}),
]  # fmt: skip


def test_the_same_writes_leave_the_same_run(pair: tuple[Mlflow, Kiln]) -> None:
    mlflow, kiln = pair
    runs = [new_run(mlflow.store), new_run(kiln.store)]
    for call, body in WRITES:
        for side, run in zip(pair, runs, strict=True):
            status, answer = side.answer(f"/api/2.0/mlflow/runs/{call}", {"run_id": run, **body}, "application/json")
            assert (status, answer) == (200, {}), (call, body, answer)
    assert written(kiln.store, runs[1]) == written(mlflow.store, runs[0])
    assert kiln.store.get_run(runs[1]).info.run_name == "renamed"


def test_twenty_callers_at_once_leave_what_one_after_another_leaves(pair: tuple[Mlflow, Kiln]) -> None:
    """kiln commits concurrent calls together; MLflow gets them one by one: the run must read the same."""
    mlflow, kiln = pair
    runs = [new_run(mlflow.store), new_run(kiln.store)]
    calls = [
        {"key": f"worker{worker % 5}", "value": worker * 1000 + step + 0.5, "timestamp": NOW + step, "step": step}
        for worker in range(20)
        for step in range(15)
    ]
    for body in calls:
        assert mlflow.answer("/api/2.0/mlflow/runs/log-metric", {"run_id": runs[0], **body}, "application/json")[0] == 200  # fmt: skip

    async def twenty_loggers() -> list[tuple[int, Any]]:
        async def logger(worker: int) -> list[tuple[int, Any]]:
            mine = calls[worker * 15 : (worker + 1) * 15]
            return [
                await kiln.answer_async("/api/2.0/mlflow/runs/log-metric", {"run_id": runs[1], **b}, "application/json")
                for b in mine
            ]

        results = await asyncio.gather(*(logger(worker) for worker in range(20)))
        return [answer for result in results for answer in result]

    assert all(answer == (200, {}) for answer in asyncio.run(twenty_loggers()))
    assert written(kiln.store, runs[1]) == written(mlflow.store, runs[0])


def test_a_shared_commit_that_fails_gives_each_caller_its_own_answer(pair: tuple[Mlflow, Kiln]) -> None:
    """Calls for a run that does not exist, committed together, each get MLflow's not-found answer."""
    _mlflow, kiln = pair
    missing = "0" * 32

    async def together() -> list[tuple[int, Any]]:
        body = {"run_id": missing, "key": "k", "timestamp": NOW}
        return await asyncio.gather(
            *(
                kiln.answer_async("/api/2.0/mlflow/runs/log-metric", {**body, "value": i}, "application/json")
                for i in range(10)
            )  # fmt: skip
        )

    answers = asyncio.run(together())
    assert all(status == 404 and answer["error_code"] == "RESOURCE_DOES_NOT_EXIST" for status, answer in answers)
