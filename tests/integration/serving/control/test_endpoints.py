"""Online endpoints end to end: real workspace servers, real replica processes, the scoring URI
with keys, blue/green traffic, mirroring, failures, restarts and rolling updates."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import psutil
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kiln.errors import AlreadyExists, Conflict, InvalidSpec, KilnError, NotFound
from kiln.specs.endpoint import ReplicaView
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, stop_replicas, wait_for
from tests.lanes import server_fixture

pytestmark = pytest.mark.slow

FAST_PROBES = "readiness_probe: {initial_delay: 0, period: 1, failure_threshold: 60}\n"
IRIS = load_iris(as_frame=True)
SAMPLE = {"input_data": {"columns": list(IRIS.data.columns), "data": IRIS.data.iloc[:3].values.tolist()}}
MODELS = {  # the versions of 'iris-ep' the module registers
    "1": LogisticRegression(max_iter=500).fit(IRIS.data, IRIS.target),
    "2": LogisticRegression(C=0.05, max_iter=500).fit(IRIS.data, IRIS.target),
}


def replica_pid(home: Path, endpoint: str, deployment: str, replica: ReplicaView) -> int | None:
    """The process of a replica, found as someone on the machine would find it: by its command line,
    which names its config file (the API says nothing of replicas' processes)."""
    config = f"/{endpoint}/{deployment}/replica-{replica.index}-g{replica.generation}.json"
    for process in psutil.process_iter(["cmdline"]):
        if any(arg.startswith(str(home)) and arg.endswith(config) for arg in process.info.get("cmdline") or []):
            return int(process.pid)
    return None


@server_fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    home = tmp_path_factory.mktemp("kiln-endpoints-home")
    started = WorkspaceServer(home, server_env(home)).start()
    yield started
    started.stop()
    stop_replicas(home)
    cleanup_jobs(home)


@pytest.fixture(scope="module")
def iris_model(server: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Model 'iris-ep' version 1 (logistic regression) and 2 (more regularised)."""
    folder = tmp_path_factory.mktemp("iris-models")
    with server.client() as client:
        for version, model in MODELS.items():
            path = folder / f"v{version}"
            mlflow.sklearn.save_model(model, str(path), input_example=IRIS.data.iloc[:2])
            assert client.models.create(name="iris-ep", path=str(path)).version == version
    return "iris-ep"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def deployment_yaml(name: str, endpoint: str, model: str, extra: str = "") -> str:
    return f"name: {name}\nendpoint_name: {endpoint}\nmodel: {model}\n{FAST_PROBES}{extra}"


def score(url: str, key: str | None, **headers: str) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(url, json=SAMPLE, headers=headers, timeout=30)


class Load:
    """Callers that keep scoring through the endpoint until stopped, counting what they get."""

    def __init__(self, url: str, key: str, threads: int = 4) -> None:
        self.url, self.key = url, key
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {self.key}"}, timeout=30) as http:
            while not self._stop.is_set():
                try:
                    response = http.post(self.url, json=SAMPLE)
                    if response.status_code == 200:
                        self.answers[response.headers["azureml-model-deployment"]] += 1
                    else:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def test_blue_green_keys_traffic_split_mirroring_and_delete(
    server: WorkspaceServer, iris_model: str, tmp_path: Path
) -> None:
    endpoint_file = write(tmp_path, "endpoint.yml", "name: iris\nauth_mode: key\ndescription: iris flowers\n")
    blue_file = write(tmp_path, "blue.yml", deployment_yaml("blue", "iris", f"kiln:{iris_model}:1"))
    green_file = write(tmp_path, "green.yml", deployment_yaml("green", "iris", f"kiln:{iris_model}@latest"))
    sample = write(tmp_path, "sample.json", json.dumps(SAMPLE))

    server.cli("online-endpoint", "create", "-f", str(endpoint_file), check=True)
    server.cli("online-deployment", "create", "-f", str(blue_file), "--all-traffic", check=True)
    invoked = server.cli("online-endpoint", "invoke", "-n", "iris", "--request-file", str(sample), check=True)
    # the replica's answer, as JSON: version 1's predictions for the sample's rows
    assert json.loads(invoked.stdout) == MODELS["1"].predict(IRIS.data.iloc[:3]).tolist()

    with server.client() as client:
        view = client.online_endpoints.get("iris")
        assert view.traffic == {"blue": 100} and view.scoring_uri == f"{server.url}/endpoints/iris/score"
        keys = client.online_endpoints.get_keys("iris")
        url = view.scoring_uri

        # missing, wrong, or the workspace's own token: 401
        assert score(url, None).status_code == 401
        assert score(url, "not-a-key").status_code == 401
        assert score(url, server.token).status_code == 401
        assert score(url, keys.primary_key).status_code == 200
        assert score(url, keys.secondary_key).status_code == 200
        # another endpoint's key is no key here, and an endpoint that does not exist answers as one without its key
        assert score(f"{server.url}/endpoints/no-such/score", keys.primary_key).status_code == 401

        # green beside blue (a newer model version), then 90/10
        server.cli("online-deployment", "create", "-f", str(green_file), check=True)
        assert client.online_deployments.get("green", "iris").model_version == "2"
        assert client.online_endpoints.get("iris").traffic == {"blue": 100}  # no traffic without asking
        server.cli("online-endpoint", "update", "-n", "iris", "--traffic", "blue=90 green=10", check=True)
        seen: Counter[str] = Counter()
        with httpx.Client(headers={"Authorization": f"Bearer {keys.primary_key}"}, timeout=30) as http:
            for _ in range(400):
                response = http.post(url, json=SAMPLE)
                assert response.status_code == 200, response.text
                seen[response.headers["azureml-model-deployment"]] += 1
            pinned = http.post(url, json=SAMPLE, headers={"azureml-model-deployment": "green"})
        # binomial(400, 0.1): mean 40, sd 6; ±4 sd
        assert seen["blue"] + seen["green"] == 400 and 16 <= seen["green"] <= 64, seen
        assert pinned.headers["azureml-model-deployment"] == "green"

        # mirror 20 % to green while blue answers every caller
        green_before = client.online_deployments.get("green", "iris").metrics
        server.cli(
            "online-endpoint", "update", "-n", "iris", "--traffic", "blue=100 green=0", "--mirror-traffic", "green=20",
            check=True,
        )  # fmt: skip
        answered: Counter[str] = Counter()
        with httpx.Client(headers={"Authorization": f"Bearer {keys.primary_key}"}, timeout=30) as http:
            for _ in range(200):
                answered[http.post(url, json=SAMPLE).headers["azureml-model-deployment"]] += 1
        assert answered == Counter({"blue": 200})

        def green_mirrored() -> int:
            return client.online_deployments.get("green", "iris").metrics.mirrored - green_before.mirrored

        wait_for(lambda: green_mirrored() >= 17, timeout=15, what="mirrored copies to reach green")
        counts = [green_mirrored()]  # the copies go out beside the answers: wait until the count settles
        wait_for(
            lambda: counts.append(green_mirrored()) or counts[-1] == counts[-2], interval=0.5, what="no more copies"
        )
        # binomial(200, 0.2): mean 40, sd 5.7; ±4 sd. Their answers are discarded: green served no request itself
        assert 17 <= counts[-1] <= 63, counts
        assert client.online_deployments.get("green", "iris").metrics.requests == green_before.requests

        shown = server.cli("online-endpoint", "show", "-n", "iris", "-o", "json", check=True)
        shown_view = json.loads(shown.stdout)
        blue_metrics = next(d for d in shown_view["deployments"] if d["name"] == "blue")["metrics"]
        assert blue_metrics["requests"] >= 500 and blue_metrics["latency_p99_ms"] > 0
        metrics = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.token}"}).text
        assert 'kiln_endpoint_requests_total{endpoint="iris",deployment="blue",code="200"}' in metrics
        assert 'kiln_endpoint_mirrored_requests_total{endpoint="iris",deployment="green"}' in metrics
        assert "kiln_endpoint_request_duration_seconds_bucket" in metrics

        # lineage: which model version each deployment serves
        lineage = client.online_deployments.lineage("green", "iris")
        assert lineage.kind == "deployment" and lineage.upstream[0].id == f"{iris_model}:2"
        assert "iris/blue" in client.models.lineage(iris_model, "1").details["served_by"]

        # keys: regenerating the primary retires it at once; the secondary keeps working
        server.cli("online-endpoint", "regenerate-keys", "-n", "iris", "--key-type", "primary", check=True)
        credentials = json.loads(server.cli("online-endpoint", "get-credentials", "-n", "iris", check=True).stdout)
        assert credentials["primary_key"] != keys.primary_key
        assert credentials["secondary_key"] == keys.secondary_key
        assert score(url, keys.primary_key).status_code == 401
        assert score(url, credentials["primary_key"]).status_code == 200

        logs = server.cli("online-deployment", "get-logs", "-n", "green", "-e", "iris", check=True).stdout
        assert "replica 0 of iris/green" in logs

        views = [(d.name, r) for d in client.online_endpoints.get("iris").deployments for r in d.replicas]
        pids = [replica_pid(server.home, "iris", name, replica) for name, replica in views]
        assert len(pids) == 2 and None not in pids
    server.cli("online-endpoint", "delete", "-n", "iris", check=True)
    assert not [pid for pid in pids if pid and psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert score(url, credentials["primary_key"]).status_code == 401  # its keys went with it: no key of any endpoint
    missing = server.cli("online-endpoint", "show", "-n", "iris")
    assert missing.returncode != 0 and "not found" in missing.stderr


BROKEN_SCRIPT = """\
def init():
    print("loading the broken model", flush=True)
    raise RuntimeError("no weights in this folder")

def run(raw_data):
    return []
"""


def test_a_deployment_that_never_gets_ready_fails_with_its_log_and_gets_no_traffic(
    server: WorkspaceServer, iris_model: str, tmp_path: Path
) -> None:
    with server.client() as client:
        client.online_endpoints.create({"name": "flaky"})
        client.online_deployments.create(
            {"name": "blue", "endpoint_name": "flaky", "model": f"kiln:{iris_model}:1",
             "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60}},
            all_traffic=True,
        )  # fmt: skip
        write(tmp_path / "code", "score.py", BROKEN_SCRIPT)
        broken = write(
            tmp_path,
            "broken.yml",
            deployment_yaml(
                "broken", "flaky", "./code",
                "code_configuration: {code: ./code, scoring_script: score.py}\n",
            ),
        )  # fmt: skip
        result = server.cli("online-deployment", "create", "-f", str(broken), "--all-traffic")
        assert result.returncode != 0
        assert "failed" in result.stderr and "no weights in this folder" in result.stderr, result.stderr
        view = client.online_deployments.get("broken", "flaky")
        assert (
            view.state == "failed" and view.replicas == [] and "loading the broken model" in (view.failure_reason or "")
        )
        assert client.online_endpoints.get("flaky").traffic == {"blue": 100}  # traffic stayed where it was
        with pytest.raises(Conflict, match="failed"):
            client.online_endpoints.update("flaky", traffic={"blue": 50, "broken": 50})
        keys = client.online_endpoints.get_keys("flaky")
        url = client.online_endpoints.get("flaky").scoring_uri
        answered = Counter(score(url, keys.primary_key).headers["azureml-model-deployment"] for _ in range(30))
        assert answered == Counter({"blue": 30})
        pinned = score(url, keys.primary_key, **{"azureml-model-deployment": "broken"})
        assert pinned.status_code in (502, 503)
        client.online_endpoints.delete("flaky")


def test_a_killed_replica_comes_back_while_the_endpoint_keeps_answering(
    server: WorkspaceServer, iris_model: str
) -> None:
    with server.client() as client:
        client.online_endpoints.create({"name": "sturdy"})
        client.online_deployments.create(
            {"name": "blue", "endpoint_name": "sturdy", "model": f"kiln:{iris_model}:1", "instance_count": 2,
             "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60}},
            all_traffic=True,
        )  # fmt: skip
        keys = client.online_endpoints.get_keys("sturdy")
        url = client.online_endpoints.get("sturdy").scoring_uri
        victim = client.online_deployments.get("blue", "sturdy").replicas[0]
        victim_pid = replica_pid(server.home, "sturdy", "blue", victim)
        assert victim_pid is not None
        with Load(url, keys.primary_key) as load:
            wait_for(lambda: sum(load.answers.values()) > 20, what="load to flow")
            os.kill(victim_pid, signal.SIGKILL)

            def back() -> bool:
                view = client.online_deployments.get("blue", "sturdy")
                pids = [replica_pid(server.home, "sturdy", "blue", r) for r in view.replicas]
                return view.ready_replicas == 2 and victim_pid not in pids and None not in pids

            wait_for(back, timeout=90, what="the killed replica to be replaced")
            served_before = sum(load.answers.values())
            wait_for(lambda: sum(load.answers.values()) > served_before + 20, what="more answers")
        assert load.failures == []
        replaced = next(r for r in client.online_deployments.get("blue", "sturdy").replicas if r.index == victim.index)
        assert replaced.restarts >= 1

        # a rolling update to model version 2, then scaling, under load: no request dropped
        with Load(url, keys.primary_key) as load:
            updated = client.online_deployments.update(
                "blue", "sturdy", {"name": "blue", "endpoint_name": "sturdy", "model": f"kiln:{iris_model}:2",
                                   "instance_count": 2,
                                   "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60}},
            )  # fmt: skip
            assert updated.model_version == "2" and updated.generation == 2
            wait_for(
                lambda: {r.generation for r in client.online_deployments.get("blue", "sturdy").replicas} == {2},
                timeout=30, what="old replicas to retire",
            )  # fmt: skip
            scaled = server.cli(
                "online-deployment", "update", "-n", "blue", "-e", "sturdy", "--set", "instance_count=3", "-o", "json",
                check=True,
            )  # fmt: skip
            shown = json.loads(scaled.stdout)  # the update waited for the third replica; scaling is no new generation
            assert (shown["instance_count"], shown["ready_replicas"], shown["generation"]) == (3, 3, 2), shown
            served_before = sum(load.answers.values())
            wait_for(lambda: sum(load.answers.values()) > served_before + 20, what="more answers")
        assert load.failures == []
        view = client.online_deployments.get("blue", "sturdy")
        assert view.ready_replicas == 3 and view.generation == 2
        client.online_endpoints.delete("sturdy")


def test_bad_requests_are_refused_clearly_and_leave_nothing_behind(
    server: WorkspaceServer, iris_model: str, tmp_path: Path
) -> None:
    with server.client() as client:
        with pytest.raises(InvalidSpec, match="sums to 80"):
            client.online_endpoints.create({"name": "strict", "traffic": {"blue": 80}})
        with pytest.raises(InvalidSpec, match="has no deployments yet"):
            client.online_endpoints.create({"name": "strict", "traffic": {"blue": 100}})
        with pytest.raises(NotFound):
            client.online_endpoints.get("strict")
        client.online_endpoints.create({"name": "strict"})
        with pytest.raises(AlreadyExists):
            client.online_endpoints.create({"name": "strict"})
        with pytest.raises(NotFound, match="endpoint 'nowhere' not found"):
            client.online_deployments.create(
                {"name": "blue", "endpoint_name": "nowhere", "model": f"kiln:{iris_model}:1"}
            )
        with pytest.raises(NotFound):
            client.online_deployments.create(
                {"name": "blue", "endpoint_name": "strict", "model": "kiln:no-such-model:1"}
            )
        with pytest.raises(InvalidSpec, match="unknown field 'instance_cont'"):
            client.online_deployments.create(
                {"name": "blue", "endpoint_name": "strict", "model": f"kiln:{iris_model}:1", "instance_cont": 2}
            )
        with pytest.raises(InvalidSpec, match="environment"):
            client.online_deployments.create(
                {"name": "blue", "endpoint_name": "strict", "model": f"kiln:{iris_model}:1", "environment": "kiln:py:1"}
            )
        assert client.online_deployments.list("strict") == []
        client.online_deployments.create(
            {"name": "blue", "endpoint_name": "strict", "model": f"kiln:{iris_model}:1",
             "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60}},
            all_traffic=True,
        )  # fmt: skip
        with pytest.raises(InvalidSpec, match="no deployment 'green'"):
            client.online_endpoints.update("strict", traffic={"blue": 50, "green": 50})
        with pytest.raises(InvalidSpec, match="mirror only to a deployment with 0 % live traffic"):
            client.online_endpoints.update("strict", mirror_traffic={"blue": 10})
        with pytest.raises(Conflict, match="still takes traffic"):
            client.online_deployments.delete("blue", "strict")
        assert client.online_endpoints.get("strict").traffic == {"blue": 100}
        bad_flag = server.cli("online-endpoint", "update", "-n", "strict", "--traffic", "blue:100")
        assert bad_flag.returncode != 0 and bad_flag.stderr.startswith("error: --traffic")
        client.online_endpoints.update("strict", traffic={"blue": 0})
        client.online_deployments.delete("blue", "strict")
        with pytest.raises(KilnError):
            client.online_deployments.get("blue", "strict")
        client.online_endpoints.delete("strict")


def test_replicas_are_readopted_after_a_server_crash(make_server, iris_model: str) -> None:  # type: ignore[no-untyped-def]
    del iris_model  # registered in the shared server; this one registers its own
    server = make_server()
    try:
        folder = server.home / "model"
        mlflow.sklearn.save_model(
            LogisticRegression(max_iter=500).fit(IRIS.data, IRIS.target), str(folder), input_example=IRIS.data.iloc[:2]
        )
        with server.client() as client:
            client.online_endpoints.create({"name": "phoenix"})
            client.online_deployments.create(
                {"name": "blue", "endpoint_name": "phoenix", "model": {"path": str(folder)},
                 "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60}},
                all_traffic=True,
            )  # fmt: skip
            before = client.online_deployments.get("blue", "phoenix").replicas[0]
            pid = replica_pid(server.home, "phoenix", "blue", before)
            key = client.online_endpoints.get_keys("phoenix").primary_key
        server.kill()
        assert pid is not None and psutil.pid_exists(pid)  # replicas outlive a crash…
        server.start()
        with server.client() as client:
            view = wait_for(
                lambda: (v := client.online_deployments.get("blue", "phoenix")).ready_replicas == 1 and v,
                timeout=60, what="the replica to be re-adopted",
            )  # fmt: skip
            # …and are re-adopted, not restarted (the gateway's secret for it was read back from its config file)
            assert replica_pid(server.home, "phoenix", "blue", view.replicas[0]) == pid
            assert view.replicas[0].started_at == before.started_at and view.replicas[0].restarts == 0
            assert score(client.online_endpoints.get("phoenix").scoring_uri, key).status_code == 200
        server.stop()
        wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", timeout=30,
                 what="a stopping server to stop its replicas")  # fmt: skip
    finally:
        stop_replicas(server.home)


def test_unmodified_tritonclient_through_the_scoring_uri(
    server: WorkspaceServer, iris_model: str, tmp_path: Path
) -> None:
    """The V2 protocol with binary tensors, through the gateway: key auth and routing included."""
    import numpy as np
    import tritonclient.http as triton

    server.cli("online-endpoint", "create", "-f", str(write(tmp_path, "e.yml", "name: triton\n")), check=True)
    blue = write(tmp_path, "blue.yml", deployment_yaml("blue", "triton", f"kiln:{iris_model}:1"))
    server.cli("online-deployment", "create", "-f", str(blue), "--all-traffic", check=True)
    with server.client() as client:
        key = client.online_endpoints.get_keys("triton").primary_key
    auth = {"Authorization": f"Bearer {key}"}
    triton_client = triton.InferenceServerClient(url=f"{server.url.removeprefix('http://')}/endpoints/triton")
    try:
        assert triton_client.is_server_ready(headers=auth) and triton_client.is_model_ready(iris_model, headers=auth)
        rows = IRIS.data.iloc[[0, 60, 120]].to_numpy(dtype=np.float64)
        features = triton.InferInput("features", list(rows.shape), "FP64")
        features.set_data_from_numpy(rows)  # binary tensor extension, tritonclient's default
        result = triton_client.infer(iris_model, [features], headers=auth)
        assert result.as_numpy("predict").tolist() == [0, 1, 2]
        assert not triton_client.is_server_ready()  # no key: refused
    finally:
        triton_client.close()
        with server.client() as client:
            client.online_endpoints.delete("triton")


SCORING_SCRIPT = """\
import json, os, pathlib
import mlflow

def init():
    global model, greeting
    # Azure's layout: the folder holding the model's folder, under the name it was registered from (v1)
    model = mlflow.sklearn.load_model(os.path.join(os.environ["AZUREML_MODEL_DIR"], "v1"))
    greeting = os.environ["GREETING"]

def run(raw_data):
    rows = json.loads(raw_data)["data"]
    kiln_dir = pathlib.Path(os.environ["KILN_MODEL_DIR"])  # kiln's own: the model's files themselves
    return {"classes": model.predict(rows).tolist(), "greeting": greeting, "kiln_dir_mlmodel": (kiln_dir / "MLmodel").is_file()}
"""


def test_a_custom_scoring_script_deployment(server: WorkspaceServer, iris_model: str, tmp_path: Path) -> None:
    write(tmp_path / "code", "score.py", SCORING_SCRIPT)
    deployment = write(
        tmp_path,
        "custom.yml",
        deployment_yaml(
            "custom", "scripted", f"kiln:{iris_model}:1",
            "code_configuration: {code: ./code, scoring_script: score.py}\nenvironment_variables: {GREETING: hello}\n",
        ),
    )  # fmt: skip
    server.cli("online-endpoint", "create", "-f", str(write(tmp_path, "e.yml", "name: scripted\n")), check=True)
    server.cli("online-deployment", "create", "-f", str(deployment), "--all-traffic", check=True)
    with server.client() as client:
        key = client.online_endpoints.get_keys("scripted").primary_key
        url = client.online_endpoints.get("scripted").scoring_uri
        rows = IRIS.data.iloc[[0, 149]].values.tolist()
        response = httpx.post(url, json={"data": rows}, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == {"classes": [0, 2], "greeting": "hello", "kiln_dir_mlmodel": True}
        client.online_endpoints.delete("scripted")


ENVIRONMENT_SCRIPT = """\
import json, sys
import six  # from the deployment's environment, not from the server's installation

def init():
    pass

def run(raw_data):
    return {"six": six.__version__, "python": sys.executable}
"""


@pytest.mark.registry
def test_a_deployment_runs_in_its_environment(server: WorkspaceServer, iris_model: str, tmp_path: Path) -> None:
    """A real uv build (needs the package registry): the scoring script imports a package
    that only the deployment's environment has, at the version the environment pins."""
    write(tmp_path / "code", "score.py", ENVIRONMENT_SCRIPT)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"  # the server's own (README: Python ≥ 3.11)
    write(tmp_path, "conda.yml", f"dependencies:\n  - python={python}\n  - pip:\n    - six==1.16.0\n")
    deployment = write(
        tmp_path,
        "env.yml",
        deployment_yaml(
            "withenv", "envs", f"kiln:{iris_model}:1",
            "code_configuration: {code: ./code, scoring_script: score.py}\nenvironment: {conda_file: ./conda.yml}\n",
        ),
    )  # fmt: skip
    server.cli("online-endpoint", "create", "-f", str(write(tmp_path, "e.yml", "name: envs\n")), check=True)
    server.cli("online-deployment", "create", "-f", str(deployment), "--all-traffic", check=True, timeout=600)
    with server.client() as client:
        key = client.online_endpoints.get_keys("envs").primary_key
        url = client.online_endpoints.get("envs").scoring_uri
        answer = httpx.post(url, json={}, headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
        assert answer["six"] == "1.16.0"
        assert str(server.home / "envs") in answer["python"]  # the environment's interpreter
        client.online_endpoints.delete("envs")


def test_a_deployment_environment_on_another_python_is_refused(server: WorkspaceServer, iris_model: str) -> None:
    with server.client() as client:
        client.online_endpoints.create({"name": "oldpy"})
        with pytest.raises(InvalidSpec, match="environment"):
            client.online_deployments.create(
                {"name": "old", "endpoint_name": "oldpy", "model": f"kiln:{iris_model}:1",
                 "environment": {"conda_file": {"dependencies": ["python=2.7"]}}},
            )  # fmt: skip
        with pytest.raises(NotFound):
            client.online_deployments.get("old", "oldpy")  # nothing recorded
        client.online_endpoints.delete("oldpy")
