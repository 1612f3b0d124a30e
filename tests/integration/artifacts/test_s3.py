"""An s3:// artifact root end to end, against a real S3 API endpoint: moto's standalone server
(``moto_server``, started by tests/s3_server.py, since no S3 server ships as a package here).

Job inputs, code snapshots, outputs, logs, data assets, registered models and MLflow's
artifacts all land in the bucket; the real mlflow client reads them through the workspace's
``/mlflow`` proxy without any S3 credentials of its own; a bucket, credentials or endpoint
that cannot be used stop the server at start with a clear error that shows no secret.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import yaml
from sklearn.datasets import load_iris

from kiln.artifacts.store import ArtifactStore, tree_hash
from kiln.processes import free_port
from kiln.specs.pins import DataPin
from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer, cleanup_jobs, server_env, write_job
from tests.lanes import server_fixture
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server, refusing_credentials, s3_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

PREFIX = "team/ws"

TRAIN = """\
    import argparse, json, pathlib
    import mlflow, pandas as pd
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser()
    for name in ("--data", "--labels", "--report", "--model"):
        parser.add_argument(name)
    args = parser.parse_args()
    frame = pd.read_csv(pathlib.Path(args.data) / "iris.csv")
    names = pathlib.Path(args.labels).read_text().split()
    X, y = frame.drop(columns="target"), frame["target"]
    model = LogisticRegression(max_iter=500).fit(X, y)
    accuracy = float(model.score(X, y))
    mlflow.log_metric("accuracy", accuracy)
    pathlib.Path(args.report, "metrics.json").write_text(json.dumps({"accuracy": accuracy}))
    pathlib.Path("outputs").mkdir(exist_ok=True)
    pathlib.Path("outputs", "classes.txt").write_text("\\n".join(names) + "\\n")
    mlflow.sklearn.save_model(model, args.model, input_example=X.head(2))
    print("trained on", len(frame), "rows")
    """

READ_ASSET = """\
    import pathlib, sys
    for path in sys.argv[1:]:
        rows = pathlib.Path(path, "iris.csv").read_text().splitlines()
        print(path.rsplit("/", 1)[-1], "rows:", len(rows) - 1)
    """


@dataclass
class S3Workspace:
    server: WorkspaceServer
    s3: S3Server
    bucket: str

    def keys(self, below: str = "") -> list[str]:
        """The bucket's keys below the workspace's prefix, without the prefix."""
        start = f"{PREFIX}/{below}"
        return [key[len(PREFIX) + 1 :] for key in self.s3.keys(self.bucket, start)]

    def read(self, key: str) -> bytes:
        return self.s3.read(self.bucket, f"{PREFIX}/{key}")


@server_fixture(scope="module")
def s3_workspace(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Workspace]:  # noqa: F811
    """A workspace server whose artifact root is s3://BUCKET/team/ws, set in its config.yaml with the endpoint
    as ``s3_endpoint_url`` (not AWS_ENDPOINT_URL: MLflow then reaches the bucket only through what kiln passes it)."""
    bucket = s3_server.create_bucket()
    home = tmp_path_factory.mktemp("kiln-s3-home")
    (home / "config.yaml").write_text(
        yaml.safe_dump({"artifact_root": f"s3://{bucket}/{PREFIX}", "s3_endpoint_url": s3_server.url})
    )
    env = server_env(home, local_concurrency="2") | s3_server.env
    del env["AWS_ENDPOINT_URL"]
    server = WorkspaceServer(home, env).start()
    yield S3Workspace(server, s3_server, bucket)
    server.stop()
    cleanup_jobs(home)


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test process (the mlflow client in it) has no way to reach S3 by itself."""
    for key in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _iris_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    load_iris(as_frame=True).frame.to_csv(folder / "iris.csv", index=False)
    return folder


def test_a_job_its_files_and_its_model_live_in_the_bucket(
    s3_workspace: S3Workspace, no_aws_credentials: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = s3_workspace.server
    data = _iris_folder(tmp_path / "data")
    (tmp_path / "labels.txt").write_text("setosa versicolor virginica\n")
    job_file = write_job(
        tmp_path,
        textwrap.dedent("""\
            type: command
            experiment_name: s3-artifacts
            code: ./src
            command: >-
              python train.py --data ${{inputs.data}} --labels ${{inputs.labels}}
              --report ${{outputs.report}} --model ${{outputs.model}}
            inputs:
              data: {type: uri_folder, path: ./data}
              labels: {type: uri_file, path: ./labels.txt}
            outputs:
              report: {type: uri_folder}
              model: {type: mlflow_model, name: iris-on-s3}
            """),
        {"train.py": textwrap.dedent(TRAIN)},
    )
    with server.client() as client:
        job = client.jobs.create(job_file).wait(timeout=240)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "trained on 150 rows" in "".join(client.jobs.logs(job.name))
        version = client.models.get_version("iris-on-s3", "latest")
        logged_accuracy = job.metrics["accuracy"]
    assert version.job == job.name

    # every file is in the bucket, and none in the home's local artifact folder
    job_id, code_hash = job.view.id, job.view.code_hash
    keys = set(s3_workspace.keys())
    assert {f"snapshots/{code_hash}/train.py", f"snapshots/.complete/{code_hash}"} <= keys
    assert f"snapshots/{tree_hash(data)}/iris.csv" in keys  # the uploaded input folder
    assert s3_workspace.read(f"snapshots/{tree_hash(data)}/iris.csv") == (data / "iris.csv").read_bytes()
    outputs = f"jobs/{job_id}/outputs"
    assert {f"{outputs}/report/metrics.json", f"{outputs}/default/classes.txt", f"{outputs}/model/MLmodel"} <= keys
    assert f"jobs/{job_id}/logs/std_log.txt" in keys
    assert not any(key.endswith("artifacts/user_logs/std_log.txt") for key in keys)  # the log is stored once
    accuracy = json.loads(s3_workspace.read(f"{outputs}/report/metrics.json"))["accuracy"]
    assert accuracy == pytest.approx(logged_accuracy) and accuracy > 0.9
    mlflow_keys = [key for key in keys if key.startswith(f"mlflow/{job.view.experiment_id}/{job_id}/artifacts/")]
    assert {key.rsplit("/artifacts/", 1)[1] for key in mlflow_keys} >= {
        "outputs/classes.txt", "user_logs/std_log.where.txt", "registered/iris-on-s3/MLmodel",
    }  # fmt: skip
    assert not (server.home / "artifacts").exists()

    # kiln job download reads them back
    target = tmp_path / "download"
    server.cli("job", "download", "-n", job.name, "--download-path", str(target), check=True)
    assert json.loads((target / "report" / "metrics.json").read_text())["accuracy"] == accuracy
    assert (target / "default" / "classes.txt").read_text().split() == ["setosa", "versicolor", "virginica"]
    assert (target / "model" / "MLmodel").is_file()

    # the real mlflow client, with no S3 credentials, downloads the run's artifacts and loads the model
    for key, value in server.mlflow_env().items():
        monkeypatch.setenv(key, value)
    local = mlflow.artifacts.download_artifacts(run_id=job_id, artifact_path="outputs", dst_path=str(tmp_path / "m"))
    assert (Path(local) / "classes.txt").read_text().split() == ["setosa", "versicolor", "virginica"]
    model = mlflow.pyfunc.load_model(f"models:/iris-on-s3/{version.version}")
    flowers = load_iris(as_frame=True).frame.drop(columns="target")
    assert model.predict(flowers.iloc[[0, 50, 100]]).tolist() == [0, 1, 2]
    _assert_no_secret_in(server.home)


def test_a_data_asset_lands_in_the_bucket_and_feeds_a_job(s3_workspace: S3Workspace, tmp_path: Path) -> None:
    server = s3_workspace.server
    folder = _iris_folder(tmp_path / "flowers")
    created = json.loads(
        server.cli("data", "create", "--name", "flowers", "--path", str(folder), "-o", "json", check=True).stdout
    )
    content = created["content_hash"]
    assert created["files"] == 1 and content == tree_hash(folder)
    assert s3_workspace.read(f"data/{content}/iris.csv") == (folder / "iris.csv").read_bytes()
    assert f"data/.complete/{content}" in s3_workspace.keys("data/")

    job_file = write_job(
        tmp_path / "job",
        textwrap.dedent("""\
            code: ./src
            command: python read.py ${{inputs.copied}} ${{inputs.mounted}}
            inputs:
              copied: {type: uri_folder, path: "kiln:flowers@latest", mode: download}
              mounted: {type: uri_folder, path: "azureml:flowers:1", mode: ro_mount}
            """),
        {"read.py": textwrap.dedent(READ_ASSET)},
    )
    with server.client() as client:
        job = client.jobs.create(job_file).wait(timeout=180)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        log = "".join(client.jobs.logs(job.name))
        assert "copied rows: 150" in log and "mounted rows: 150" in log
        pinned = client.jobs.get(job.name).view.pinned_inputs["copied"]
        assert isinstance(pinned, DataPin) and (pinned.name, pinned.version, pinned.content_hash) == (
            "flowers",
            "1",
            content,
        )
    target = tmp_path / "downloaded"
    server.cli("data", "download", "-n", "flowers", "--download-path", str(target), check=True)
    assert (target / "flowers" / "iris.csv").read_bytes() == (folder / "iris.csv").read_bytes()


def test_the_store_on_s3_keeps_folders_files_and_content_addresses(s3_server: S3Server, tmp_path: Path) -> None:  # noqa: F811
    bucket = s3_server.create_bucket()
    store = ArtifactStore(
        f"s3://{bucket}/root/",
        {"endpoint_url": s3_server.url, "key": ACCESS_KEY, "secret": SECRET_KEY, "use_listings_cache": False},
    )
    assert not store.is_local
    folder = tmp_path / "tree"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "deeper" / "b.bin").write_bytes(b"\0\1" * 1000)

    store.put(folder, "things/tree")
    store.put(folder / "a.txt", "things/tree-sibling.txt")  # shares the name's beginning, not the folder
    assert s3_server.keys(bucket) == [
        "root/things/tree-sibling.txt", "root/things/tree/a.txt", "root/things/tree/sub/deeper/b.bin",
    ]  # fmt: skip
    assert store.is_dir("things/tree") and store.exists("things/tree/a.txt") and not store.exists("things/nothing")
    assert store.list_files("things/tree") == ["a.txt", "sub/deeper/b.bin"]
    assert store.list_files("things/tree/a.txt") == ["a.txt"]
    assert store.names_under("things") == {"tree", "tree-sibling.txt"} and store.names_under("things/tree") == {
        "a.txt",
        "sub",
    }
    assert store.names_under("things/nothing") == set()
    store.get("things/tree", tmp_path / "back")
    assert tree_hash(tmp_path / "back") == tree_hash(folder)
    store.get("things/tree/a.txt", tmp_path / "one.txt")
    assert (tmp_path / "one.txt").read_text() == "alpha"
    with pytest.raises(FileNotFoundError):
        store.get("things/nothing", tmp_path / "none")
    with store.local_view("things/tree") as view:
        assert (view / "sub" / "deeper" / "b.bin").read_bytes() == b"\0\1" * 1000
    assert not view.exists()  # the download is gone afterwards

    with tarfile.open(fileobj=io.BytesIO(b"".join(store.iter_tar("things/tree", "tree")))) as archive:
        members = {m.name: m.size for m in archive.getmembers()}
    assert members == {"tree/a.txt": 5, "tree/sub/deeper/b.bin": 2000}

    # replacing a folder drops what was there
    (folder / "a.txt").unlink()
    store.put(folder, "things/tree")
    assert store.list_files("things/tree") == ["sub/deeper/b.bin"]

    # content-addressed: stored once, then a marker; the same content again writes nothing
    digest = store.put_content_addressed(folder, "snapshots")
    assert store.has_content("snapshots", digest)
    stamp = s3_server.client().head_object(Bucket=bucket, Key=f"root/snapshots/{digest}/sub/deeper/b.bin")
    assert store.put_content_addressed(folder, "snapshots") == digest
    again = s3_server.client().head_object(Bucket=bucket, Key=f"root/snapshots/{digest}/sub/deeper/b.bin")
    assert again["LastModified"] == stamp["LastModified"] and again["ETag"] == stamp["ETag"]
    # files without their marker (a writer that crashed) are not an entry yet
    s3_server.client().delete_object(Bucket=bucket, Key=f"root/snapshots/.complete/{digest}")
    assert not store.has_content("snapshots", digest)
    assert store.put_content_addressed(folder, "snapshots") == digest and store.has_content("snapshots", digest)

    # an empty folder has no object in S3, but as a content-addressed entry it still exists and is empty
    (tmp_path / "empty").mkdir()
    empty = store.put_content_addressed(tmp_path / "empty", "snapshots")
    assert store.exists(f"snapshots/{empty}") and store.is_dir(f"snapshots/{empty}")
    store.get(f"snapshots/{empty}", tmp_path / "empty-back")
    assert (tmp_path / "empty-back").is_dir() and not any((tmp_path / "empty-back").iterdir())


def _server_run(
    home: Path, env: dict[str, str], timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "kiln", "server", "run", "--home", str(home)],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO,
    )  # fmt: skip
    return result, time.monotonic() - started


def _assert_no_secret_in(home: Path, *outputs: str) -> None:
    """Neither what was printed nor any file in the home (logs included) shows the secret key."""
    assert not any(SECRET_KEY in output for output in outputs)
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET_KEY.encode() not in path.read_bytes(), path


def test_a_bucket_that_cannot_be_used_stops_the_server_at_start(
    s3_server: S3Server,  # noqa: F811
    refusing_credentials: S3Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    cases = [
        (
            "missing bucket", s3_server.env, "s3://no-such-kiln-bucket/x",
            ["artifact_root", "s3://no-such-kiln-bucket/x", "the bucket 'no-such-kiln-bucket' does not exist",
             f"the S3 endpoint {s3_server.url} (from AWS_ENDPOINT_URL)", "aws s3 mb s3://no-such-kiln-bucket"],
        ),
        (
            "wrong credentials", refusing_credentials.env, "s3://any-bucket/x",
            ["refused the credentials (InvalidAccessKeyId)", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        ),
        (
            "no credentials", {k: v for k, v in s3_server.env.items() if "ACCESS" not in k}, "s3://any-bucket/x",
            ["no AWS credentials were found", "AWS_ACCESS_KEY_ID"],
        ),
        (
            "unreachable endpoint", s3_server.env | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"},
            "s3://any-bucket/x", ["cannot be reached", "s3_endpoint_url"],
        ),
    ]  # fmt: skip
    for what, s3_env, root, expected in cases:
        home = tmp_path / what.replace(" ", "-")
        result, seconds = _server_run(home, server_env(home, artifact_root=root) | s3_env)
        assert result.returncode == 6, (what, result.stdout, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, (what, result.stderr)
        message = errors[0]
        assert message.startswith("error: artifact_root (--artifact-root"), (what, message)
        for part in expected:
            assert part in message, (what, part, message)
        assert "Traceback" not in result.stderr, what
        _assert_no_secret_in(home, result.stdout, result.stderr)
        assert not (home / "server.json").exists() and not (home / "mlflow" / "process.json").exists()
        assert seconds < 90, (what, seconds)
