"""Azure ML environment files on kiln, end to end: curated and registry names, Docker build contexts,
image-only environments, and jobs that run ``pip install`` without touching kiln's installation.

One module server, offline: its pip configuration is a find-links folder of stand-in wheels the
test writes (the packages of ``AzureML-sklearn-1.5`` as kiln ships them, ``kiln-probe`` 1.0 and
2.0, an ``mlflow-skinny`` of the server's version), so every build is a real uv build without a
registry. The real packages of a curated environment are built by the one ``registry`` test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from kiln.environments.curated import find_curated
from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, write_job
from tests.lanes import server_fixture
from tests.unit.environments.test_builder import make_wheel

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
SKLEARN = find_curated("sklearn-1.5")
STAND_INS = {"scikit-learn": "1.5.2", "kiln-probe": "1.0"}
VERSIONS_SCRIPT = (
    "import sys\nfrom importlib import metadata\n"
    "for name in sys.argv[1:]:\n    print(name, metadata.version(name))\nprint('prefix', sys.prefix)\n"
)


@server_fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    wheels = tmp_path_factory.mktemp("wheels")
    assert SKLEARN is not None
    for line in SKLEARN.requirements:
        name = Requirement(line).name
        make_wheel(wheels, name, STAND_INS.get(name, "1.0"))
    for version in ("1.0", "2.0"):
        make_wheel(wheels, "kiln-probe", version)
    make_wheel(wheels, "mlflow-skinny", metadata.version("mlflow"))
    home = tmp_path_factory.mktemp("kiln-azure-env-home")
    env = {k: v for k, v in server_env(home, local_concurrency="2").items() if not k.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    server = WorkspaceServer(home, env).start()
    server.wheels = wheels  # type: ignore[attr-defined]
    yield server
    server.stop()
    cleanup_jobs(home)


def run_job(server: WorkspaceServer, folder: Path, head: str, command: str = "python main.py", script: str = ""):  # type: ignore[no-untyped-def]
    with server.client() as client:
        job = client.jobs.create(
            write_job(folder, f"command: {command}\ncode: ./src\n{head}", {"main.py": script})
        ).wait(180)
        log = "".join(client.jobs.logs(job.name))
        assert job.status == JobStatus.COMPLETED, (job.view.failure_reason, log)
        return job, log, client.environments.of_job(job.name)


# Curated environments and registry references ---------------------------------------------------
def test_curated_and_registry_names_build_the_shipped_list_once(offline: WorkspaceServer, tmp_path: Path) -> None:
    command = "python main.py scikit-learn pandas"
    registry = "environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest\n"
    first, log, record = run_job(offline, tmp_path / "a", registry, command, VERSIONS_SCRIPT)
    assert "scikit-learn 1.5.2" in log and "pandas 1.0" in log and f"prefix {offline.home / 'envs'}" in log
    assert "note: AzureML-sklearn-1.5: Azure's curated environment, built by kiln from its own package list" in log
    assert record["kind"] == "curated" and record["name"] == "sklearn-1.5" and record["version"] == "latest"
    assert "scikit-learn~=1.5.0" in record["requirements"] and "scikit-learn==1.5.2" in record["lock"]

    # the same environment, named as a workspace writes it, with a version: the cached venv
    for n, head in enumerate(
        ["environment: azureml:AzureML-sklearn-1.5:3\n", "environment: azureml:AzureML-sklearn-1.5@latest\n"]
    ):
        _job, log, again = run_job(offline, tmp_path / f"b{n}", head, command, VERSIONS_SCRIPT)
        assert "reused from the cache" in log and "building with uv" not in log
        assert again["hash"] == record["hash"] and again["lock"] == record["lock"]
    assert again["version"] == "latest" and again["reference"] == "azureml:AzureML-sklearn-1.5@latest"
    shown = offline.cli("environment", "show", "--job", first.name, check=True).stdout
    assert "AzureML-sklearn-1.5 (curated)" in shown and "scikit-learn==1.5.2" in shown


def test_unknown_curated_names_say_what_kiln_knows_and_the_line_that_makes_them_work(
    offline: WorkspaceServer, tmp_path: Path
) -> None:
    folder = tmp_path / "unknown"
    job = write_job(
        folder,
        "command: python main.py kiln-probe\ncode: ./src\nenvironment: azureml:AzureML-acme-2.0:4\n",
        {"main.py": VERSIONS_SCRIPT},
    )
    result = offline.cli("job", "create", "-f", str(job))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'azureml:AzureML-acme-2.0:4' is not a curated environment kiln knows" in result.stderr
    assert "AzureML-sklearn-1.5" in result.stderr and "AzureML-lightgbm-3.3" in result.stderr
    fix = "kiln environment create --name AzureML-acme-2.0 --version 4 -f env.yml"
    assert fix in " ".join(result.stderr.split())

    # the line it gives works: the job runs in the environment registered under that name
    (folder / "env.yml").write_text("pip_requirements: [kiln-probe==2.0]\n")
    offline.cli(*fix.split()[1:-1], str(folder / "env.yml"), check=True)
    with offline.client() as client:
        ran = client.jobs.create(job).wait(180)
        assert ran.status == JobStatus.COMPLETED, ran.view.failure_reason
        assert "kiln-probe 2.0" in "".join(client.jobs.logs(ran.name))

    other = write_job(
        tmp_path / "other", "command: echo\nenvironment: azureml://registries/contoso/environments/x/versions/1\n"
    )
    result = offline.cli("job", "create", "-f", str(other))
    assert result.returncode == 2 and "kiln knows only Azure's 'azureml' registry" in result.stderr


def test_deployments_resolve_curated_names_too(offline: WorkspaceServer, tmp_path: Path) -> None:
    """A deployment's environment goes through the same resolution: an unknown curated name gets the same answer."""
    (tmp_path / "model.txt").write_text("weights\n")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text("def init():\n    pass\n\ndef run(raw):\n    return {}\n")
    deployment = tmp_path / "blue.yml"
    deployment.write_text(
        "name: blue\nendpoint_name: curated-ep\nmodel: kiln:curated-model:1\n"
        "code_configuration: {code: ./code, scoring_script: score.py}\nenvironment: azureml:AzureML-acme-9@latest\n"
    )
    with offline.client() as client:
        client.models.create(name="curated-model", version="1", path=str(tmp_path / "model.txt"), type="custom_model")
        client.online_endpoints.create({"name": "curated-ep"})
    result = offline.cli("online-deployment", "create", "-f", str(deployment))
    message = " ".join(result.stderr.split())
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "'azureml:AzureML-acme-9@latest' is not a curated environment kiln knows" in message
    assert "kiln environment create --name AzureML-acme-9 --version 1 -f env.yml" in message


# Docker build contexts, images, interpreters ---------------------------------------------------------
def test_a_build_context_uses_the_requirements_its_dockerfile_installs(
    offline: WorkspaceServer, tmp_path: Path
) -> None:
    context = tmp_path / "docker-context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM python:{PYTHON}-slim\nWORKDIR /app\nCOPY requirements.txt .\n"
        "RUN apt-get update && pip install --no-cache-dir -r requirements.txt\n"
    )
    (context / "requirements.txt").write_text("kiln-probe==2.0\n")
    env = tmp_path / "env.yml"
    env.write_text("name: from-docker\nversion: '1'\nbuild:\n  path: ./docker-context\n  dockerfile_path: Dockerfile\n")
    offline.cli("environment", "create", "-f", str(env), check=True)
    with offline.client() as client:
        view = client.environments.get("from-docker", "1")
        assert view.status == "ready" and "kiln-probe==2.0" in view.packages and view.python.startswith(PYTHON)
        assert any("requirements.txt (pip -r)" in note for note in view.notes), view.notes
        assert any("'apt-get update'" in note and "not used" in note for note in view.notes), view.notes

    (context / "Dockerfile").write_text("FROM ubuntu:24.04\nRUN apt-get install -y python3-sklearn\n")
    result = offline.cli("environment", "create", "-f", str(env), "--version", "2")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "build: kiln read Dockerfile (FROM ubuntu:24.04) and found no pip or conda install kiln can use" in message
    assert "'apt-get install -y python3-sklearn'" in message and "conda_file or pip_requirements" in message


def test_an_image_only_environment_says_that_kiln_does_not_run_images(offline: WorkspaceServer, tmp_path: Path) -> None:
    env = tmp_path / "image.yml"
    env.write_text("name: image-only\nversion: '1'\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest\n")
    shown = offline.cli("environment", "create", "-f", str(env), check=True)
    assert "ready" in shown.stdout
    with offline.client() as client:
        (note,) = client.environments.get("image-only", "1").notes
    assert note.startswith("kiln does not run container images: image 'mcr.microsoft.com/azureml/openmpi4.1.0")
    assert f"python {PYTHON}." in note and "mlflow-skinny" in note and "conda_file or pip_requirements" in note
    assert "kiln does not run container images" in " ".join(
        offline.cli("environment", "show", "-n", "image-only", "-v", "1", check=True).stdout.split()
    )
    _job, log, _record = run_job(
        offline,
        tmp_path / "job",
        "environment: azureml:image-only:1\n",
        "python main.py mlflow-skinny",
        VERSIONS_SCRIPT,
    )
    assert "note: kiln does not run container images" in log and "none of the image's packages" in log


# Pip isolation ------------------------------------------------------------------------------------
def kiln_installation() -> tuple[dict[str, str], int]:
    """The packages of the installation that runs the servers (this interpreter's) and its site-packages' size."""
    packages = {d.metadata["Name"].lower(): d.version for d in metadata.distributions()}
    size = 0
    for root in {p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()}:
        for folder, _dirs, files in os.walk(root):
            size += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
    return packages, size


PIP_SCRIPT = (
    "import shutil, subprocess, sys\n"
    "print('pip', shutil.which('pip'))\n"
    "subprocess.run(['pip', 'install', '--no-index', '--find-links', sys.argv[1], 'kiln-probe==2.0'], check=True)\n"
    "subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-index', '--find-links', sys.argv[1], 'kiln-probe==2.0'], check=True)\n"
    "import kiln_probe\nprint('probe', kiln_probe.__version__, kiln_probe.__file__)\n"
)


def test_pip_install_in_a_job_never_changes_kilns_installation(offline: WorkspaceServer, tmp_path: Path) -> None:
    before = kiln_installation()
    assert "kiln-probe" not in before[0]
    # the wheels reach the job as an input, as a user's own would (the job sandbox hides the server's /tmp)
    wheels = f"inputs:\n  wheels: {{type: uri_folder, path: {offline.wheels}}}\n"  # type: ignore[attr-defined]
    command = "python main.py ${{inputs.wheels}}"
    # a job on the server's own interpreter: its pip installs into a venv of the job's own
    _job, log, _record = run_job(offline, tmp_path / "server", wheels, command, PIP_SCRIPT)
    assert "probe 2.0" in log and "Successfully installed kiln-probe-2.0" in log
    (pip_line,) = [line for line in log.splitlines() if line.startswith("pip /")]
    assert pip_line.startswith(f"pip {offline.home}") and pip_line.endswith("/python/bin/pip"), pip_line
    assert kiln_installation() == before  # same packages, same versions, same size

    # a job with an environment: its own pip, in the environment's venv, which the sandbox shows read-only
    # (the venv is shared by every job with the same environment): the install is refused, nothing changes
    head = wheels + "environment:\n  pip_requirements: [kiln-probe==1.0]\n"
    with offline.client() as client:
        job = client.jobs.create(
            write_job(tmp_path / "env", f"command: {command}\ncode: ./src\n{head}", {"main.py": PIP_SCRIPT})
        )
        job.wait(180)
        log = "".join(client.jobs.logs(job.name))
        record = client.environments.of_job(job.name)
    assert job.status == JobStatus.FAILED, log
    assert f"pip {offline.home / 'envs' / record['hash'] / 'venv' / 'bin' / 'pip'}" in log
    assert "Read-only file system" in log
    venv = offline.home / "envs" / record["hash"] / "venv"
    assert not list(venv.glob("lib/python*/site-packages/kiln_probe-2.0*")), "the shared environment changed"
    assert kiln_installation() == before


# Against the package registry ----------------------------------------------------------------------
SKLEARN_SCRIPT = (
    "import mlflow, sklearn\nfrom sklearn.datasets import load_iris\nfrom sklearn.linear_model import LogisticRegression\n"
    "X, y = load_iris(return_X_y=True)\nscore = LogisticRegression(max_iter=200).fit(X, y).score(X, y)\n"
    "print('sklearn', sklearn.__version__)\nmlflow.log_metric('accuracy', score)\n"
)


@pytest.mark.registry
def test_registry_the_curated_sklearn_environment_trains_and_logs(workspace: WorkspaceServer, tmp_path: Path) -> None:
    """Azure's sklearn-1.5 line, unchanged: the real packages from the registry, built once, then reused."""
    head = "environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest\n"
    job, log, record = run_job(workspace, tmp_path / "a", head, "python main.py", SKLEARN_SCRIPT)
    with workspace.client() as client:
        assert client.jobs.get(job.name).metrics["accuracy"] > 0.9  # logged by the environment's MLflow client
    assert "sklearn 1.5." in log
    assert any(line.startswith("scikit-learn==1.5.") for line in record["lock"]) and "pip==" in " ".join(record["lock"])
    _job, log, again = run_job(
        workspace, tmp_path / "b", "environment: azureml:AzureML-sklearn-1.5:1\n", "python main.py", SKLEARN_SCRIPT
    )
    assert again["hash"] == record["hash"] and "reused from the cache" in log
