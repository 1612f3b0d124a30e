"""The same kind of deployment on the tests' Ray cluster: ``compute: kiln:ray-cluster`` runs the batch_scoring job
through the Ray runner, and its entry hands the mini-batches to Ray Data (an actor pool running init() once per
actor); the predictions equal the model's own. The input never travels with the job: its Ray working_dir holds a
manifest of signed URLs (served by the workspace without a token), which the actors stream the files from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env
from tests.lanes import server_fixture
from tests.ray_cluster import RayHead, start_ray_head, stop_ray_head

CLUSTER = "ray-cluster"
COLUMNS = ["a", "b", "c"]


@server_fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    head = start_ray_head(num_cpus=2)
    yield head
    stop_ray_head(head)


@server_fixture(scope="module")
def ray_server(ray_head: RayHead, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    home = tmp_path_factory.mktemp("kiln-batch-ray-home")
    server = WorkspaceServer(home, server_env(home)).start()
    compute_file = home / "compute.yml"
    compute_file.write_text(f"name: {CLUSTER}\ntype: ray\naddress: {ray_head.address}\n")
    server.cli("compute", "create", "-f", str(compute_file), check=True)
    yield server
    server.stop()
    cleanup_jobs(home)


def the_manifest_that_travelled(head: RayHead, names: list[str]) -> tuple[dict[str, Any], Path]:
    """The input manifest of ``names`` in the Ray working_dir that held it, and that working_dir: it held none of
    the files (the predictions were written in it: .kiln_outputs)."""
    found = head.temp_dir.glob("session_*/runtime_resources/working_dir_files/*/.kiln_inputs/data.json")
    manifests = {path.resolve() for path in found}  # session_latest is a link to the session's folder
    (manifest,) = [m for m in manifests if [f["name"] for f in json.loads(m.read_text())["files"]] == names]
    package = manifest.parents[1]
    inputs = [p for p in package.rglob("*") if p.suffix == ".csv" and ".kiln_outputs" not in p.parts]
    assert not inputs, sorted(package.rglob("*"))
    loaded: dict[str, Any] = json.loads(manifest.read_text())
    return loaded, package


def names_no_server_path(server: WorkspaceServer, head: RayHead, submission_id: str, package: Path) -> None:
    """The job's command line (in its driver's configuration) and its environment (Ray's runtime_env) name paths
    inside its Ray working_dir only: the model was downloaded there, the predictions written there."""
    command = json.loads((package / ".kiln_ray" / "job.json").read_text())["command"]
    assert str(server.home) not in command
    assert "--model .kiln_inputs/model" in command and "--output .kiln_outputs/predictions" in command
    assert (package / ".kiln_inputs" / "model" / "MLmodel").is_file()
    answer = httpx.get(f"{head.address}/api/jobs/{submission_id}", timeout=10)
    variables = answer.json()["runtime_env"]["env_vars"]
    assert variables and not [f"{k}={v}" for k, v in variables.items() if str(server.home) in v]


def test_a_batch_deployment_on_a_ray_cluster_scores_through_ray_data(
    ray_head: RayHead, ray_server: WorkspaceServer, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.random((300, 3)), columns=COLUMNS)
    model = LogisticRegression().fit(x, (x.a + x.b > 1).astype(int))
    mlflow.sklearn.save_model(model, str(tmp_path / "model"))
    data = tmp_path / "data"
    data.mkdir()
    for index in range(6):
        pd.DataFrame(rng.random((40, 3)), columns=COLUMNS).to_csv(data / f"f{index}.csv", index=False)
    with ray_server.client() as client:
        client.models.create(name="ray-batch", path=str(tmp_path / "model"))
        client.batch_endpoints.create({"name": "on-ray"})
        client.batch_deployments.create({
            "name": "cluster", "endpoint_name": "on-ray", "model": "kiln:ray-batch@latest",
            "compute": f"kiln:{CLUSTER}", "max_concurrency_per_instance": 2, "mini_batch_size": 2,
        })  # fmt: skip
        job = client.batch_endpoints.invoke("on-ray", data).wait(timeout=400)
        log = "".join(client.jobs.logs(job.name))
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason + log[-3000:]
        assert job.view.compute == CLUSTER
        assert "kiln: input 'data' is read through signed URLs (.kiln_inputs/data.json" in log
        assert "kiln: input 'model' is downloaded from signed URLs (.kiln_inputs/model.json" in log
        assert (
            "scoring 6 files (? rows) in 3 mini-batches of up to 2 files, 2 workers on Ray, "
            "read from signed URLs (nothing copied)"
        ) in log
        (folder,) = job.download(tmp_path / "out", "predictions")
    manifest, package = the_manifest_that_travelled(ray_head, [f"f{i}.csv" for i in range(6)])
    names_no_server_path(ray_server, ray_head, job.view.submission_id or "", package)
    url = manifest["files"][0]["url"]
    assert url.startswith(f"{ray_server.url}/signed-files/") and "f0.csv" not in url
    assert httpx.get(url).content == (data / "f0.csv").read_bytes()  # no kiln token: the signature is the key
    assert httpx.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")).status_code == 403
    got = pd.read_csv(folder / "predictions.csv")
    frames = [pd.read_csv(data / f"f{i}.csv") for i in range(6)]
    want = pd.DataFrame({
        "file": [f"f{i}.csv" for i in range(6) for _ in range(40)],
        "row": [r for _ in range(6) for r in range(40)],
        "prediction": np.concatenate([model.predict(frame) for frame in frames]),
    })  # fmt: skip
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


SCRIPT = """\
import os
import pandas as pd


def run(mini_batch):
    return pd.DataFrame({
        "file": [os.path.basename(path) for path in mini_batch],
        "local_copy": [os.path.basename(os.path.dirname(path)).startswith("kiln-batch-") for path in mini_batch],
        "rows": [len(pd.read_csv(path)) for path in mini_batch],
    })
"""


def test_a_scoring_script_on_ray_gets_local_copies_of_the_signed_files(
    ray_server: WorkspaceServer, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(SCRIPT)
    data = tmp_path / "data"
    data.mkdir()
    for index in range(3):
        pd.DataFrame({"a": range(index + 1)}).to_csv(data / f"g{index}.csv", index=False)
    model = LogisticRegression().fit(pd.DataFrame({"a": [0, 1]}), [0, 1])
    mlflow.sklearn.save_model(model, str(tmp_path / "model"))
    with ray_server.client() as client:
        client.models.create(name="ray-script", path=str(tmp_path / "model"))
        client.batch_endpoints.create({"name": "script-on-ray"})
        client.batch_deployments.create({
            "name": "cluster", "endpoint_name": "script-on-ray", "model": "kiln:ray-script@latest",
            "code_configuration": {"code": str(code), "scoring_script": "score.py"},
            "compute": f"kiln:{CLUSTER}", "mini_batch_size": 2,
            "environment_variables": {"KILN_RAY_OUTPUTS_VIA": "mlflow"},  # as from a node without the server's disk
        })  # fmt: skip
        job = client.batch_endpoints.invoke("script-on-ray", data).wait(timeout=400)
        log = "".join(client.jobs.logs(job.name))
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason + log[-3000:]
        (folder,) = job.download(tmp_path / "out", "predictions")
    assert "kiln: ./.kiln_outputs sent to the workspace as MLflow artifacts" in log
    got = pd.read_csv(folder / "predictions.csv")
    assert got.to_dict("list") == {"file": ["g0.csv", "g1.csv", "g2.csv"], "local_copy": [True] * 3, "rows": [1, 2, 3]}
