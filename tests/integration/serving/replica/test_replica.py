"""The scoring replica as the controller runs it: ``python -m kiln.serving.replica cfg.json``
on a loopback port, with a real MLflow scikit-learn model and a real scoring script, spoken
to over all three protocols (the V2 binary path through the unmodified ``tritonclient``)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from kiln.internal_secret import HEADER_NAME
from kiln.processes import QUIET_ENVIRONMENT, free_port
from tests.conftest import REPO, wait_for
from tests.lanes import require_slow_lane, server_fixture

SECRET = "the-gateways-secret-for-these-replicas"
GATEWAY = {HEADER_NAME: SECRET}  # what the gateway sends with every request: a replica answers nothing else
# (tritonclient adds its own headers to the dict it is given: it gets a copy)
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
X, Y = load_iris(return_X_y=True, as_frame=True)
ROWS = X.to_numpy().tolist()

SCRIPT = """
import json
import os
import os
import time

model = None


def init():
    global model
    time.sleep(float(os.environ.get("INIT_SECONDS", "0")))
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.json")) as handle:
        model = json.load(handle)
    assert os.environ["KILN_MODEL_DIR"] == os.environ["AZUREML_MODEL_DIR"]


def run(raw_data):
    data = json.loads(raw_data)
    if "sleep" in data:
        time.sleep(data["sleep"])
        return "slept"
    if "fail" in data:
        raise ValueError("asked to fail")
    rows = data["input_data"]
    if all(isinstance(row, str) for row in rows):
        return [row.upper() for row in rows]
    return {"scores": [model["scale"] * sum(row) for row in rows], "greeting": os.environ["GREETING"]}
"""


def gateway_request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request as the gateway sends it: with the replica's secret."""
    return httpx.request(method, url, headers={**GATEWAY, **kwargs.pop("headers", {})}, **kwargs)


def gateway_get(url: str, **kwargs: Any) -> httpx.Response:
    return gateway_request("GET", url, **kwargs)


def gateway_post(url: str, **kwargs: Any) -> httpx.Response:
    return gateway_request("POST", url, **kwargs)


@dataclass
class Replica:
    """A replica process started by a test, and where to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120) -> Replica:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"replica exited early:\n{self.output()[-3000:]}"
            try:
                if gateway_get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"replica not ready in {timeout}s:\n{self.output()[-3000:]}")

    def stop(self) -> int:
        """SIGTERM, as the controller stops a replica; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def metric(self, name: str) -> float:
        text = gateway_get(f"{self.url}/metrics").text
        values = [float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)]
        return sum(values)


def start_replica(folder: Path, **config: Any) -> Replica:
    require_slow_lane("a scoring replica")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = {
        "endpoint": "iris-ep",
        "deployment": "blue",
        "port": port,
        "secret": SECRET,
        "model_name": "iris",
        **config,
    }
    config_file = folder / "replica.json"
    config_file.write_text(json.dumps(settings, default=str))
    log = folder / "replica.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "MLFLOW_", "AZUREML_"))}
    env.update(QUIET_ENVIRONMENT)
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "kiln.serving.replica", str(config_file)],
            stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True,
        )  # fmt: skip
    return Replica(process, port, log)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("models")
    classifier = LogisticRegression(max_iter=500).fit(X, Y)
    mlflow.sklearn.save_model(
        classifier, str(folder / "iris"), signature=infer_signature(X, classifier.predict(X)), input_example=X.iloc[:2]
    )
    regressor = LinearRegression().fit(X, Y.astype(float) + X["sepal width (cm)"])
    mlflow.sklearn.save_model(
        regressor,
        str(folder / "regressor"),
        signature=infer_signature(X, regressor.predict(X)),
        input_example=X.iloc[:2],
    )
    script_model = folder / "script-model"
    script_model.mkdir()
    (script_model / "weights.json").write_text(json.dumps({"scale": 2.0}))
    code = folder / "code"
    code.mkdir()
    (code / "score.py").write_text(SCRIPT)
    return {
        "iris": folder / "iris",
        "classifier": classifier,
        "regressor_dir": folder / "regressor",
        "regressor": regressor,
        "script_model": script_model,
        "code": code,
    }


@server_fixture(scope="module")
def iris(models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    replica = start_replica(tmp_path_factory.mktemp("iris-replica"), model_dir=models["iris"], model_version="3")
    replica.wait_ready()
    yield replica
    assert replica.stop() == 0, replica.output()[-3000:]
    assert "Finished server process" in replica.output()


@server_fixture(scope="module")
def script(models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    replica = start_replica(
        tmp_path_factory.mktemp("script-replica"),
        model_dir=models["script_model"],
        code_dir=models["code"],
        scoring_script="score.py",
        environment_variables={"GREETING": "hello"},
        request_timeout_ms=1000,
        max_concurrent_requests=2,
    )
    replica.wait_ready()
    yield replica
    assert replica.stop() == 0, replica.output()[-3000:]


@server_fixture
def replicas() -> Iterator[Callable[..., Replica]]:
    """``start_replica`` for one test; whatever it leaves running is killed at its end."""
    started: list[Replica] = []

    def start(folder: Path, **config: Any) -> Replica:
        started.append(start_replica(folder, **config))
        return started[-1]

    yield start
    for replica in started:
        if replica.process.poll() is None:
            replica.process.kill()
            replica.process.wait()


def expected(models: dict[str, Any], rows: list[list[float]]) -> list[int]:
    import pandas as pd

    return models["classifier"].predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()


# --- no-code MLflow deployment: the three protocols -----------------------------------------


def test_azure_style_json_in_every_input_data_shape(iris: Replica, models: dict[str, Any]) -> None:
    rows = [ROWS[0], ROWS[60], ROWS[120]]
    want = expected(models, rows)
    assert want == [0, 1, 2]
    bodies = [
        {"input_data": {"columns": COLUMNS, "index": [0, 1, 2], "data": rows}},
        {"input_data": rows},
        {"input_data": {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}},
        {"input_data": [dict(zip(COLUMNS, row, strict=True)) for row in rows]},
    ]
    for body in bodies:
        response = gateway_post(f"{iris.url}/score", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == want


def test_mlflow_invocations_bodies_and_csv(iris: Replica, models: dict[str, Any]) -> None:
    rows = [ROWS[10], ROWS[140]]
    want = {"predictions": expected(models, rows)}
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    for body in (
        {"dataframe_split": {"columns": COLUMNS, "data": rows}},
        {"dataframe_records": records},
        {"instances": rows},
        {"instances": records},
        {"inputs": rows},
        {"inputs": {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}},
    ):
        response = gateway_post(f"{iris.url}/invocations", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == want
    csv_body = ",".join(COLUMNS) + "\n" + "\n".join(",".join(str(v) for v in row) for row in rows) + "\n"
    response = gateway_post(f"{iris.url}/invocations", content=csv_body, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json() == want


def test_v2_json_health_metadata_and_infer(iris: Replica, models: dict[str, Any]) -> None:
    assert gateway_get(f"{iris.url}/v2/health/live").status_code == 200
    assert gateway_get(f"{iris.url}/v2/health/ready").status_code == 200
    assert "binary_tensor_data" in gateway_get(f"{iris.url}/v2").json()["extensions"]
    assert gateway_get(f"{iris.url}/v2/models/iris/ready").status_code == 200
    assert gateway_get(f"{iris.url}/v2/models/iris/versions/3/ready").status_code == 200
    metadata = gateway_get(f"{iris.url}/v2/models/iris").json()
    assert metadata["versions"] == ["3"] and metadata["platform"] == "mlflow"
    assert [i["name"] for i in metadata["inputs"]] == COLUMNS
    assert {i["datatype"] for i in metadata["inputs"]} == {"FP64"}
    assert metadata["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]

    rows = [ROWS[0], ROWS[100]]
    one_tensor = {"id": "r1", "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": rows}]}
    per_column = {
        "inputs": [
            {"name": name, "shape": [2, 1], "datatype": "FP32", "data": [row[i] for row in rows]}
            for i, name in enumerate(COLUMNS)
        ]
    }
    for body, path in ((one_tensor, "iris/infer"), (per_column, "iris/versions/3/infer")):
        response = gateway_post(f"{iris.url}/v2/models/{path}", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["model_name"] == "iris" and answer["model_version"] == "3"
        assert answer["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [2], "data": [0, 2]}]
    assert (
        response.json().get("id") is None
        and gateway_post(f"{iris.url}/v2/models/iris/infer", json=one_tensor).json()["id"] == "r1"
    )

    missing = gateway_post(f"{iris.url}/v2/models/roses/infer", json=one_tensor)
    assert missing.status_code == 404 and "this replica serves 'iris'" in missing.json()["error"]
    assert gateway_get(f"{iris.url}/v2/models/iris/versions/9").status_code == 404


def test_without_the_gateways_secret_a_replica_answers_nothing(iris: Replica) -> None:
    """Not scoring, not its health, not its metrics: callers reach a replica through the gateway only,
    and a refused request never reaches the app (it counts no request)."""
    v2_body = {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": ROWS[0]}]}
    calls = [
        ("POST", "/score", {"input_data": [ROWS[0]]}),
        ("POST", "/invocations", {"instances": [ROWS[0]]}),
        ("POST", "/v2/models/iris/infer", v2_body),
        ("GET", "/v2/health/ready", None),
        ("GET", "/v2/models/iris", None),
        ("GET", "/metrics", None),
    ]
    counted = iris.metric("kiln_replica_requests_total")
    for secret in (None, "", "wrong", SECRET.upper(), SECRET + "x", SECRET[:-1]):
        headers = {} if secret is None else {HEADER_NAME: secret}
        for method, path, body in calls:
            refused = httpx.request(method, iris.url + path, json=body, headers=headers)
            assert refused.status_code == 403, (secret, path, refused.text)
            assert "answers only the workspace's gateway" in refused.json()["error"]["message"]
    assert iris.metric("kiln_replica_requests_total") == counted
    assert gateway_post(f"{iris.url}/score", json={"input_data": [ROWS[0]]}).status_code == 200
    assert iris.metric("kiln_replica_requests_total") == counted + 1


def test_tritonclient_http_with_binary_tensors(iris: Replica, models: dict[str, Any]) -> None:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    client = triton.InferenceServerClient(url=f"127.0.0.1:{iris.port}")
    try:
        assert client.is_server_live(headers=dict(GATEWAY)) and client.is_server_ready(headers=dict(GATEWAY))
        assert client.is_model_ready("iris", headers=dict(GATEWAY))
        assert client.get_model_metadata("iris", headers=dict(GATEWAY))["outputs"][0]["name"] == "predict"
        rows = np.array([ROWS[0], ROWS[60], ROWS[120], ROWS[149]], dtype=np.float64)
        features = triton.InferInput("features", list(rows.shape), "FP64")
        features.set_data_from_numpy(rows)  # binary by default
        result = client.infer(
            "iris", [features], headers=dict(GATEWAY)
        )  # no outputs named: all outputs come back binary
        assert result.get_response()["outputs"][0]["parameters"]["binary_data_size"] == 4 * 8
        np.testing.assert_array_equal(result.as_numpy("predict"), expected(models, rows.tolist()))

        # one FP32 binary input per column, the output asked for as JSON
        columns = []
        for i, name in enumerate(COLUMNS):
            column = triton.InferInput(name, [4, 1], "FP32")
            column.set_data_from_numpy(rows[:, i : i + 1].astype(np.float32), binary_data=True)
            columns.append(column)
        as_json = triton.InferRequestedOutput("predict", binary_data=False)
        result = client.infer("iris", columns, outputs=[as_json], model_version="3", headers=dict(GATEWAY))
        assert "data" in result.get_response()["outputs"][0]
        np.testing.assert_array_equal(result.as_numpy("predict"), expected(models, rows.tolist()))

        wrong = triton.InferInput("features", [1, 3], "FP64")
        wrong.set_data_from_numpy(rows[:1, :3])
        with pytest.raises(InferenceServerException, match=r"shape \[N, 4\]") as raised:
            client.infer("iris", [wrong], headers=dict(GATEWAY))
        assert raised.value.status() == "400"
    finally:
        client.close()


# --- bad input: 400 with the reason -------------------------------------------------------


def test_signature_mismatches_name_the_column_and_type(iris: Replica) -> None:
    good = dict(zip(COLUMNS, ROWS[0], strict=True))
    wrong_type = {**good, "petal width (cm)": "wide"}
    missing = {k: v for k, v in good.items() if k != "sepal width (cm)"}
    unknown = {**good, "colour": 1.0}
    cases = [
        ("/score", {"input_data": [wrong_type]}, ["'petal width (cm)'", "double", '"wide"']),
        ("/score", {"input_data": [missing]}, ["missing column 'sepal width (cm)'", "double"]),
        ("/invocations", {"dataframe_records": [unknown]}, ["unknown column 'colour'"]),
        ("/invocations", {"instances": [ROWS[0][:3]]}, ["4 values", "row 0 has 3"]),
        ("/score", {"input_data": {"columns": COLUMNS, "data": [[1.0, 2.0, 3.0, True]]}}, ["'petal width (cm)'", "double", "boolean"]),
    ]  # fmt: skip
    for path, body, phrases in cases:
        response = gateway_post(f"{iris.url}{path}", json=body)
        assert response.status_code == 400, (body, response.text)
        message = response.json()["message"] if path == "/invocations" else response.json()["error"]["message"]
        for phrase in phrases:
            assert phrase in message, (phrase, message)
    v2_wrong = {
        "inputs": [
            {"name": name, "shape": [1], "datatype": "BOOL" if name == COLUMNS[2] else "FP64", "data": [True] if name == COLUMNS[2] else [1.0]}
            for name in COLUMNS
        ]
    }  # fmt: skip
    response = gateway_post(f"{iris.url}/v2/models/iris/infer", json=v2_wrong)
    assert response.status_code == 400 and "'petal length (cm)' expects double" in response.json()["error"]


SHORT_BINARY = (
    b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "parameters": {"binary_data_size": 32}}]}'
)


def test_malformed_bodies_are_400_with_the_reason(iris: Replica) -> None:
    csv = {"content-type": "text/csv"}
    cases = [
        ("/score", b'{"input_data": [[1, 2', {}, "not valid JSON"),
        ("/score", b"", {}, "body is empty"),
        ("/score", b'{"data": []}', {}, "'input_data'"),
        ("/invocations", b'{"rows": []}', {}, "exactly one of 'dataframe_split'"),
        ("/invocations", b'{"inputs": [[1,2,3,4]], "instances": [[1,2,3,4]]}', {}, "it has instances, inputs"),
        ("/invocations", ",".join(COLUMNS).encode() + b"\n1,2,3\n", csv, "CSV line 2 has 3 values"),
        ("/invocations", ",".join(COLUMNS).encode() + b"\n1,2,3,abc\n", csv, "'petal width (cm)' expects double"),
        ("/v2/models/iris/infer", b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP99", "data": [1,2,3,4]}]}', {}, "FP99"),
        ("/v2/models/iris/infer", b'{"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1,2,3,4]}]}', {}, "holds 8 elements"),
        ("/v2/models/iris/infer", SHORT_BINARY + b"XXXX", {"inference-header-content-length": str(len(SHORT_BINARY))}, "binary_data_size 32"),
    ]  # fmt: skip
    for path, body, headers, phrase in cases:
        response = gateway_post(
            f"{iris.url}{path}", content=body, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code == 400, (body, response.text)
        assert phrase in response.text, (phrase, response.text)
    response = gateway_post(f"{iris.url}/invocations", content=b"<x/>", headers={"content-type": "application/xml"})
    assert response.status_code == 415 and "text/csv" in response.json()["message"]


# --- batching and metrics -----------------------------------------------------------------


def _fire_together(port: int, path: str, bodies: list[bytes]) -> list[tuple[int, bytes]]:
    """Open every connection first, then send every request at once: the server sees them
    arrive together, as under load."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in bodies]
    for sock, body in zip(sockets, bodies, strict=True):
        head = f"POST {path} HTTP/1.1\r\nhost: x\r\n{HEADER_NAME}: {SECRET}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        sock.sendall(head.encode() + body)
    answers = []
    for sock in sockets:
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        sock.close()
        head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
        answers.append((int(head.split()[1]), payload))
    return answers


def test_concurrent_requests_are_merged_and_answered_in_order(
    models: dict[str, Any], replicas: Callable[..., Replica], tmp_path: Path
) -> None:
    replica = replicas(
        tmp_path, model_dir=models["regressor_dir"], batching={"max_batch_size": 64, "max_queue_delay_ms": 20}
    ).wait_ready()
    try:
        indices = [(i * 37) % 150 for i in range(32)]  # 32 different rows, classes interleaved
        bodies = [json.dumps({"input_data": [ROWS[i]]}).encode() for i in indices]
        calls_before = replica.metric("kiln_replica_predict_calls_total")
        answers = _fire_together(replica.port, "/score", bodies)
        calls = replica.metric("kiln_replica_predict_calls_total") - calls_before
        import pandas as pd

        want = models["regressor"].predict(pd.DataFrame([ROWS[i] for i in indices], columns=COLUMNS))
        got = [json.loads(payload)[0] for status, payload in answers if status == 200]
        assert len(got) == 32, answers
        np.testing.assert_allclose(got, want, rtol=1e-12)  # each answer is its own row's
        assert 1 <= calls <= 16, f"{calls} predict calls for 32 concurrent requests"
        assert replica.metric("kiln_replica_predicted_rows_total") >= 32
        # a request with several rows is split back with all of its rows
        many = gateway_post(f"{replica.url}/score", json={"input_data": [ROWS[0], ROWS[1], ROWS[2]]}).json()
        assert len(many) == 3
    finally:
        assert replica.stop() == 0


def test_metrics_count_requests_errors_and_latency(iris: Replica) -> None:
    before_ok = iris.metric(
        'kiln_replica_requests_total{code="200",deployment="blue",endpoint="iris-ep",protocol="azure",replica="0"}'
    )
    before_errors = iris.metric("kiln_replica_request_errors_total")
    gateway_post(f"{iris.url}/score", json={"input_data": [ROWS[0]]})
    gateway_post(f"{iris.url}/score", content=b"nope")
    text = gateway_get(f"{iris.url}/metrics").text
    assert (
        'kiln_replica_request_duration_seconds_bucket{deployment="blue",endpoint="iris-ep",le="0.005",protocol="azure",replica="0"}'
        in text
    )
    assert (
        iris.metric(
            'kiln_replica_requests_total{code="200",deployment="blue",endpoint="iris-ep",protocol="azure",replica="0"}'
        )
        == before_ok + 1
    )
    assert iris.metric("kiln_replica_request_errors_total") == before_errors + 1
    assert iris.metric("kiln_replica_ready") == 1
    assert "_created" not in text


# --- scoring scripts ----------------------------------------------------------------------


def test_scoring_script_gets_the_raw_body_on_every_protocol(script: Replica) -> None:
    body = {"input_data": [[1, 2], [3, 4]]}
    want = {"scores": [6.0, 14.0], "greeting": "hello"}  # init() read weights.json from AZUREML_MODEL_DIR
    assert gateway_post(f"{script.url}/score", json=body).json() == want
    assert gateway_post(f"{script.url}/invocations", json=body).json() == {"predictions": want}
    v2_body = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT64", "data": [1, 2, 3, 4]}]}
    outputs = gateway_post(f"{script.url}/v2/models/iris/infer", json=v2_body).json()["outputs"]
    assert outputs == [
        {"name": "scores", "datatype": "FP64", "shape": [2], "data": [6.0, 14.0]},
        {"name": "greeting", "datatype": "BYTES", "shape": [1], "data": ["hello"]},
    ]
    failed = gateway_post(f"{script.url}/score", json={"fail": True})
    assert failed.status_code == 500 and "ValueError: asked to fail" in failed.json()["error"]["message"]
    assert "asked to fail" in script.output()  # the traceback is in the replica's log


def test_tritonclient_bytes_tensors_through_a_scoring_script(script: Replica) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{script.port}")
    try:
        words = triton.InferInput("words", [3], "BYTES")
        words.set_data_from_numpy(np.array([b"kiln", b"fire", b"\xc3\xa9t\xc3\xa9"], dtype=object))
        result = client.infer("iris", [words], headers=dict(GATEWAY))
        assert result.as_numpy("predict").tolist() == [b"KILN", b"FIRE", "ÉTÉ".encode()]
    finally:
        client.close()


def test_request_limits_answer_429_and_408(script: Replica) -> None:
    answers: dict[str, int] = {}

    def send(name: str, seconds: float) -> None:
        answers[name] = gateway_post(f"{script.url}/score", json={"sleep": seconds}, timeout=30).status_code

    in_flight = "kiln_replica_in_flight_requests"
    threads = [threading.Thread(target=send, args=(name, s)) for name, s in (("first", 0.6), ("second", 0.0))]
    for count, thread in enumerate(threads, start=1):
        thread.start()  # one at a time: the first holds the script's one thread, the second waits behind it
        wait_for(lambda count=count: script.metric(in_flight) == count, interval=0.01, what=f"{count} in flight")
    refused = gateway_post(f"{script.url}/score", json={"sleep": 0})
    for thread in threads:
        thread.join()
    assert refused.status_code == 429 and "max_concurrent_requests" in refused.text
    assert answers == {"first": 200, "second": 200}

    slow = gateway_post(f"{script.url}/score", json={"sleep": 1.5}, timeout=30)
    assert slow.status_code == 408 and "1000 ms" in slow.json()["error"]["message"]
    # the script's one thread finishes the slow run before it answers anything else
    wait_for(lambda: gateway_post(f"{script.url}/score", json={"sleep": 0}, timeout=30).status_code == 200)


def test_ready_only_after_init(models: dict[str, Any], replicas: Callable[..., Replica], tmp_path: Path) -> None:
    replica = replicas(
        tmp_path,
        model_dir=models["script_model"],
        code_dir=models["code"],
        scoring_script="score.py",
        environment_variables={"GREETING": "hi", "INIT_SECONDS": "3"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                live = gateway_get(f"{replica.url}/v2/health/live")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and replica.process.poll() is None, replica.output()
                time.sleep(0.05)
        assert live.status_code == 200
        assert gateway_get(f"{replica.url}/v2/health/ready").status_code == 503
        assert gateway_get(f"{replica.url}/v2/models/iris/ready").status_code == 503
        early = gateway_post(f"{replica.url}/score", json={"input_data": [[1]]})
        assert early.status_code == 503 and "still loading" in early.text
        replica.wait_ready()
        assert gateway_post(f"{replica.url}/score", json={"input_data": [[1]]}).json()["greeting"] == "hi"
    finally:
        assert replica.stop() == 0


@pytest.mark.parametrize(
    ("script_text", "message"),
    [
        ("def init(:\n    pass\n", "failed to import: SyntaxError"),
        ("def init():\n    raise RuntimeError('no weights here')\n\ndef run(raw_data):\n    return 1\n", "init() failed: RuntimeError: no weights here"),
        ("def init():\n    pass\n", "must define run(raw_data)"),
        ("import not_a_module_anywhere\n", "ModuleNotFoundError"),
    ],
)  # fmt: skip
def test_a_broken_scoring_script_exits_non_zero_with_the_reason(
    replicas: Callable[..., Replica], tmp_path: Path, script_text: str, message: str
) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(script_text)
    replica = replicas(tmp_path / "replica", code_dir=tmp_path / "code", scoring_script="score.py")
    assert replica.process.wait(60) == 1
    last_line = replica.output().strip().splitlines()[-1]
    assert message in replica.output() and "error:" in last_line, replica.output()


def test_a_folder_without_an_mlflow_model_exits_non_zero(replicas: Callable[..., Replica], tmp_path: Path) -> None:
    replica = replicas(tmp_path / "replica", model_dir=tmp_path)
    assert replica.process.wait(60) == 1
    assert f"no MLmodel file in {tmp_path}" in replica.output()
