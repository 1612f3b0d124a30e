"""Packaging (models.package, models.export, deployments.package) and the packaged replica's standalone mode,
probed as an attacker would:

- who may: a model's package or export needs what downloading the model needs (reader); a deployment's package
  holds its endpoint's key hashes, so it needs what reading the keys needs (contributor): a reader is refused;
  no token, a wrong one, is refused;
- names and options that try to leave their place (``..``, encoded slashes, a newline in an image name, YAML in
  an option) are refused, never served and never a 500;
- no file of any package holds an endpoint key (the hashes only), nor the replica's internal secret;
- the packaged replica's standalone mode answers scoring only with a key whose hash it holds: no key, a wrong
  key, another scheme, the hash itself sent as the key are refused; a plain key given where hashes belong is
  refused at start; a config with neither or both ways in is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import tarfile
from pathlib import Path

import httpx
import mlflow
import pytest
import sklearn
from pydantic import ValidationError
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kiln.errors import InvalidSpec
from kiln.serving.replica.endpoint_keys import EndpointKeysOnly, read_key_hashes
from kiln.specs.replica import EndpointKeyAuth, ReplicaConfig
from tests.conftest import WorkspaceServer
from tests.security.conftest import SUFFIX, Seeded, Team, bearer_http

MODEL = f"sec-pkg-iris-{SUFFIX}"


@pytest.fixture(scope="module")
def mlflow_model(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow model registered by the contributor (the seeded one is a custom model: it needs code to serve)."""
    iris = load_iris()
    folder = tmp_path_factory.mktemp("sec-pkg") / "model"
    model = LogisticRegression(max_iter=300).fit(iris.data, iris.target)
    mlflow.sklearn.save_model(model, str(folder), pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    with team.contributor.client(security_server) as client:
        client.models.create(name=MODEL, path=str(folder))
    return MODEL


def _members(tar_bytes: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:gz") as tar:
        members = tar.getmembers()
        assert all(m.isfile() for m in members), [m.name for m in members if not m.isfile()]  # no links, no devices
        assert all(not m.name.startswith("/") and ".." not in m.name.split("/") for m in members)
        return {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]


def test_a_model_package_needs_what_downloading_the_model_needs(
    security_server: WorkspaceServer, team: Team, mlflow_model: str
) -> None:
    path = f"/api/v1/models/{mlflow_model}/versions/1/package"
    for token in (None, "not-a-token", team.expired.token, team.revoked.token):
        with bearer_http(security_server, token) as http:
            assert http.get(path, params={"to": "docker"}).status_code == 401
    with team.reader.http(security_server) as http:
        answer = http.get(path, params={"to": "docker"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/gzip"
    files = _members(answer.content)
    assert {"Dockerfile", "replica.json", "requirements.txt", "model/MLmodel"} <= set(files)
    assert b'"secret"' not in files["replica.json"]  # no gateway secret: standalone keys only


def test_a_deployment_package_needs_what_reading_the_endpoint_keys_needs_and_holds_no_key(
    security_server: WorkspaceServer, team: Team, seeded: Seeded, seeded_deployment: str
) -> None:
    path = f"/api/v1/online-endpoints/{seeded.endpoint}/deployments/{seeded_deployment}/package"
    for token in (None, "not-a-token", team.revoked.token):
        with bearer_http(security_server, token) as http:
            assert http.get(path).status_code == 401
    with team.reader.http(security_server) as http:
        refused = http.get(path, params={"to": "kubernetes"})
    assert refused.status_code == 403 and "reading endpoint keys" in refused.text
    with team.contributor.client(security_server) as client:
        keys = client.online_endpoints.get_keys(seeded.endpoint)
    plain = [keys.primary_key.encode(), keys.secondary_key.encode()]
    hashes = [hashlib.sha256(k).hexdigest().encode() for k in plain]
    for member in (team.contributor, team.owner):
        for to in ("docker", "kubernetes"):
            with member.http(security_server) as http:
                answer = http.get(path, params={"to": to})
            assert answer.status_code == 200, answer.text
            files = _members(answer.content)
            everything = b"\n".join(files.values())
            assert not [k for k in plain if k in everything]  # no key in any file…
            assert all(h in everything for h in hashes)  # …their hashes instead
            assert b"x-kiln-internal-secret" not in everything.lower()
            if to == "docker":
                assert files["code/score.py"].startswith(b"def init()")  # the deployment's scoring script


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/..%2F..%2Fetc/versions/1/package",
        "/api/v1/models/%2E%2E/versions/1/package",
        "/api/v1/models/{model}/versions/..%2F..%2F1/package",
        "/api/v1/models/{model}/versions/1%00/export",
        "/api/v1/models/{model}/versions/1/package?to=..%2F..%2Fdocker",
        "/api/v1/models/{model}/versions/1/export?to=triton&instance_kind=..%2Fgpu",
        "/api/v1/models/{model}/versions/1/export?max_batch_size=-1",
        "/api/v1/online-endpoints/..%2F{endpoint}/deployments/blue/package",
        "/api/v1/online-endpoints/{endpoint}/deployments/..%2Fblue/package",
        "/api/v1/online-endpoints/{endpoint}/deployments/blue/package?to=kubernetes&image=evil%0Akind:%20Secret",
        "/api/v1/online-endpoints/{endpoint}/deployments/blue/package?to=kubernetes&image=..%2F..%2Fx",
        "/api/v1/online-endpoints/{endpoint}/deployments/blue/package?to=kubernetes&autoscale=1,2%0Akind:%20Pod",
        "/api/v1/online-endpoints/{endpoint}/deployments/blue/package?to=kubernetes&autoscale=5,2",
    ],
)
def test_names_and_options_that_try_to_leave_their_place_are_refused(
    security_server: WorkspaceServer, team: Team, seeded: Seeded, mlflow_model: str, path: str
) -> None:
    url = security_server.url + path.replace("{model}", mlflow_model).replace("{endpoint}", seeded.endpoint)
    with httpx.Client(headers={"Authorization": f"Bearer {team.owner.token}"}, timeout=60) as http:
        answer = http.get(httpx.URL(url))  # sent as written: no client-side normalisation of the dots
    assert answer.status_code in (404, 422), (path, answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json")  # an error, never a package
    assert "Traceback" not in answer.text


# The packaged replica's standalone mode -----------------------------------------------------------------
KEY = "the-endpoint-key"
KEY_HASH = hashlib.sha256(KEY.encode()).hexdigest()


async def _scored(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"scored"})  # type: ignore[operator]


STANDALONE = EndpointKeysOnly(_scored, (KEY_HASH, hashlib.sha256(b"second").hexdigest()))


def _call(method: str, path: str, authorization: str | None = None) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request through the standalone replica's key check, as uvicorn hands it over (the path as sent)."""
    sent: list[dict] = []  # type: ignore[type-arg]

    async def receive() -> dict:  # type: ignore[type-arg]
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        sent.append(message)

    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    asyncio.run(STANDALONE({"type": "http", "method": method, "path": path, "headers": headers}, receive, send))
    return int(sent[0]["status"]), dict(sent[0]["headers"]), sent[1]["body"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer not-the-key", f"Basic {KEY}", f"Bearer {KEY_HASH}", f"Bearer {KEY} extra", KEY],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/score"), ("POST", "/invocations"), ("POST", "/v2/models/iris/infer"), ("GET", "/metrics"),
     ("GET", "/v2/models/iris"), ("POST", "/v2/health/ready"), ("GET", "/v2/health/ready/../../score")],
)  # fmt: skip
def test_the_standalone_replica_refuses_without_its_key(method: str, path: str, authorization: str | None) -> None:
    status, headers, body = _call(method, path, authorization)
    assert status == 401 and headers[b"www-authenticate"] == b"Bearer"
    assert body != b"scored" and b"Bearer KEY" in body  # says what to send


def test_the_standalone_replica_answers_its_keys_and_its_probes() -> None:
    assert _call("POST", "/score", f"Bearer {KEY}")[2] == b"scored"
    assert _call("POST", "/score", "bearer second")[2] == b"scored"  # either key; the scheme in any case
    assert _call("GET", "/v2/health/ready")[2] == b"scored"  # the container's probes carry no key
    assert _call("GET", "/v2/health/live")[2] == b"scored"


def test_plain_keys_where_hashes_belong_and_configs_without_one_way_in_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KILN_ENDPOINT_KEY_HASHES", KEY)
    with pytest.raises(InvalidSpec, match="not a SHA-256 hex digest.*never the keys themselves"):
        read_key_hashes(EndpointKeyAuth())
    monkeypatch.delenv("KILN_ENDPOINT_KEY_HASHES")
    with pytest.raises(InvalidSpec, match="no key hashes"):
        read_key_hashes(EndpointKeyAuth())
    (tmp_path / "hashes").write_text(f"{KEY_HASH}\n{KEY}\n")
    with pytest.raises(InvalidSpec, match="item 2 is not a SHA-256"):
        read_key_hashes(EndpointKeyAuth(hashes_file=tmp_path / "hashes"))
    (tmp_path / "hashes").write_text(f"{KEY_HASH.upper()}\n")
    assert read_key_hashes(EndpointKeyAuth(hashes_file=tmp_path / "hashes")) == (KEY_HASH,)

    base = {"endpoint": "e", "deployment": "d", "port": 8080, "model_name": "m"}
    for ways_in in ({}, {"secret": "s" * 32, "endpoint_keys": {}}):
        with pytest.raises(ValidationError, match="exactly one of 'secret'"):
            ReplicaConfig.model_validate({**base, **ways_in})


def test_the_packaged_config_runs_standalone_only_with_hashes(
    security_server: WorkspaceServer, team: Team, mlflow_model: str
) -> None:
    with team.reader.http(security_server) as http:
        answer = http.get(f"/api/v1/models/{mlflow_model}/versions/1/package")
    config = ReplicaConfig.model_validate_json(_members(answer.content)["replica.json"])
    assert config.secret is None and config.endpoint_keys is not None
    assert config.endpoint_keys.hashes_file is None  # a model's package holds no hashes: given at `docker run`
