"""Environments end to end: real server processes, real uv, real jobs.

The offline tests give their server a pip configuration of its own (``PIP_NO_INDEX`` and a
find-links folder of wheels the test writes, with a stand-in ``mlflow-skinny`` wheel so
the MLflow client that kiln adds resolves without a registry). The ``registry`` tests use
this machine's real pip configuration and download real packages.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from kiln.errors import AlreadyExists, InvalidSpec, KilnError
from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, write_job
from tests.lanes import server_fixture
from tests.unit.environments.test_builder import make_wheel

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"  # the servers' own (README: Python ≥ 3.11)
PROBE_SCRIPT = "import sys, kiln_probe\nprint('probe', kiln_probe.__version__)\nprint('prefix', sys.prefix)\n"


@server_fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    wheels = tmp_path_factory.mktemp("wheels")
    for version in ("1.0", "2.0"):
        make_wheel(wheels, "kiln-probe", version)
    make_wheel(wheels, "mlflow-skinny", metadata.version("mlflow"))  # stand-in: no registry offline
    home = tmp_path_factory.mktemp("kiln-env-home")
    env = server_env(home, local_concurrency="2")
    env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    server = WorkspaceServer(home, env).start()
    yield server
    server.stop()
    cleanup_jobs(home)


def env_file(folder: Path, name: str, requirement: str, version: str | None = "1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}-conda.yml").write_text(
        f"channels: [conda-forge]\ndependencies:\n  - python={PYTHON}\n  - pip\n  - pip:\n      - {requirement}\n"
    )
    head = f"name: {name}\n" + (f"version: '{version}'\n" if version else "")
    path = folder / f"{name}.yml"
    path.write_text(head + f"image: python:{PYTHON}-slim\nconda_file: {name}-conda.yml\n")
    return path


def job_file(folder: Path, environment: str, script: str = PROBE_SCRIPT) -> Path:
    return write_job(folder, f"command: python main.py\ncode: ./src\n{environment}", {"main.py": script})


def log_of(server: WorkspaceServer, name: str) -> str:
    with server.client() as client:
        return "".join(client.jobs.logs(name))


# Offline ---------------------------------------------------------------------------------------
def test_create_cache_hit_changed_spec_and_immutable_versions(offline: WorkspaceServer, tmp_path: Path) -> None:
    first = env_file(tmp_path, "probe", "kiln-probe==1.0")
    result = offline.cli("environment", "create", "-f", str(first), check=True)
    assert "kiln-probe==1.0" in result.stderr and "building with uv" in result.stderr  # the build was shown
    assert "ready" in result.stdout and "probe:1" in result.stdout

    with offline.client() as client:
        view = client.environments.get("probe", "1")
        assert view.status == "ready" and view.image == f"python:{PYTHON}-slim"
        assert "kiln-probe==1.0" in view.packages and view.python.startswith(f"{PYTHON}.")
        assert f"mlflow-skinny=={metadata.version('mlflow')}" in view.requirements  # added for tracking
        assert view.build_log and "mlflow-skinny" in Path(view.build_log).read_text()

        # cold build vs cache hit, the same spec under new names (so each create is a new registration)
        cold_spec = env_file(tmp_path / "cold", "cold", "kiln-probe==2.0")
        cold = client.environments.create(cold_spec)
        hit = client.environments.create(cold_spec, name="hit")
        assert cold.status == hit.status == "ready" and cold.hash == hit.hash
        assert hit.build_log == cold.build_log  # nothing was built: the venv was found in the cache

        # versions are immutable: the same spec again is a no-op, another spec an error
        assert client.environments.create(first).hash == view.hash
        changed = env_file(tmp_path / "changed", "probe", "kiln-probe==2.0")
        with pytest.raises(AlreadyExists, match=r"probe:1 already exists with a different spec.*give a new version"):
            client.environments.create(changed)
        second = client.environments.create(changed, version="2")
        assert second.hash != view.hash and "kiln-probe==2.0" in second.packages
        assert client.environments.get("probe").version == "2"  # latest

    listed = json.loads(offline.cli("environment", "list", "-o", "json", check=True).stdout)
    assert {("probe", "1"), ("probe", "2"), ("cold", "1"), ("hit", "1")} <= {(e["name"], e["version"]) for e in listed}
    shown = offline.cli("environment", "show", "-n", "probe", "-v", "1", check=True).stdout
    assert "kiln-probe==1.0" in shown and view.hash in shown and "build log" in shown


def test_jobs_run_in_their_environment_and_reruns_use_the_recorded_one(
    offline: WorkspaceServer, tmp_path: Path
) -> None:
    with offline.client() as client:
        client.environments.create(env_file(tmp_path, "rerun-env", "kiln-probe==1.0"))
        job = client.jobs.create(job_file(tmp_path / "job", "environment: azureml:rerun-env@latest\n")).wait(120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        log = log_of(offline, job.name)
        assert "probe 1.0" in log and "reused from the cache" in log
        assert f"prefix {offline.home / 'envs'}" in log
        recorded = client.environments.of_job(job.name)
        assert recorded["kind"] == "kiln" and recorded["name"] == "rerun-env" and recorded["version"] == "1"
        assert "kiln-probe==1.0" in recorded["lock"]
        # the CLI shows the same record: the environment the job ran with and its exact package list
        assert json.loads(offline.cli("environment", "show", "--job", job.name, "-o", "json", check=True).stdout) == (
            recorded
        )
        shown = offline.cli("environment", "show", "--job", job.name, check=True).stdout
        assert "rerun-env:1" in shown and recorded["hash"] in shown
        assert all(package in shown for package in recorded["lock"]), (recorded["lock"], shown)

        # the registered name now means something else; a rerun still gets the recorded packages
        client.environments.create(env_file(tmp_path / "v2", "rerun-env", "kiln-probe==2.0", version="2"))
        result = offline.cli("job", "create", "--rerun", job.name, "--stream", "-o", "json", check=True)
        assert "probe 1.0" in result.stdout and "recorded venv is still in the cache" in result.stdout
        rerun = json.loads(result.stdout[result.stdout.index("{\n") :])
        assert rerun["status"] == "completed" and rerun["tags"]["kiln.rerun_of"] == job.name
        assert rerun["code_hash"] == job.view.code_hash
        assert client.environments.of_job(rerun["name"])["lock"] == recorded["lock"]

        # with the venv gone from the cache, the rerun builds it again from the exact pins
        shutil.rmtree(offline.home / "envs" / recorded["hash"])
        again = client.jobs.rerun(job.name).wait(120)
        assert again.status == JobStatus.COMPLETED, again.view.failure_reason
        log = log_of(offline, again.name)
        assert "probe 1.0" in log and "building with uv" in log
        assert client.environments.of_job(again.name)["lock"] == recorded["lock"]

        # an inline conda file, read by the SDK next to the job's YAML, built on the fly
        folder = tmp_path / "inline"
        env_file(folder, "inline", "kiln-probe==2.0")
        inline = client.jobs.create(job_file(folder, "environment:\n  conda_file: inline-conda.yml\n")).wait(120)
        assert inline.status == JobStatus.COMPLETED, inline.view.failure_reason
        assert "probe 2.0" in log_of(offline, inline.name)
        assert client.environments.of_job(inline.name)["kind"] == "inline"

        # no environment: the workspace server's own interpreter, as before
        plain = client.jobs.create(job_file(tmp_path / "plain", "", "import sys; print(sys.prefix)\n")).wait(120)
        assert plain.status == JobStatus.COMPLETED
        assert client.environments.of_job(plain.name)["kind"] == "server-interpreter"


def test_a_broken_requirement_fails_in_preparing_with_the_installer_message(
    offline: WorkspaceServer, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    env_file(folder, "broken", "kiln-probe==9.9")
    with offline.client() as client:
        job = client.jobs.create(job_file(folder, "environment:\n  conda_file: broken-conda.yml\n")).wait(120)
        assert job.status == JobStatus.FAILED and job.view.started_at is None and job.view.preparing_at
        reason = job.view.failure_reason or ""
        assert reason.startswith("preparing the job failed: building the environment failed")
        assert "No solution found when resolving dependencies" in reason and "kiln-probe==9.9" in reason
        assert "No solution found" in log_of(offline, job.name)  # the build's lines are in the job's log

    result = offline.cli("environment", "create", "-f", str(folder / "broken.yml"))
    assert result.returncode != 0 and "failed to build" in result.stderr and "kiln-probe==9.9" in result.stderr
    with offline.client() as client:
        assert client.environments.get("broken", "1").status == "failed"
        with pytest.raises(InvalidSpec, match="environment: broken:1 failed to build"):
            client.jobs.create(job_file(tmp_path / "uses-broken", "environment: kiln:broken:1\n"))
        with pytest.raises(KilnError, match="failed to build"):
            client.environments.create(folder / "broken.yml")  # again: rebuilt, fails again


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("environment: kiln:nope:1\n", "environment: 'kiln:nope:1' is not registered in this workspace"),
        ("environment: kiln:nope\n", "expected kiln:NAME:VERSION"),
        ("environment:\n  conda_file: missing.yml\n", "environment.conda_file: file 'missing.yml' not found"),
        (
            "environment:\n  conda_file: {dependencies: [python=3.1]}\n",
            f"environment.conda_file: python 3.1 is not available on the workspace server (it has python {PYTHON}.",
        ),
    ],
)
def test_bad_environments_in_jobs_are_refused_at_submit(
    offline: WorkspaceServer, tmp_path: Path, environment: str, expected: str
) -> None:
    result = offline.cli("job", "create", "-f", str(job_file(tmp_path, environment)))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr


def test_bad_environment_files_are_refused(offline: WorkspaceServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(f"name: x\nversion: '1'\nconda_file:\n  dependencies: [python={PYTHON}]\n  chanels: [x]\n")
    result = offline.cli("environment", "create", "-f", str(bad))
    assert (
        result.returncode == 2 and "line 5" in result.stderr and "unknown field 'conda_file.chanels'" in result.stderr
    )
    nameless = tmp_path / "nameless.yml"
    nameless.write_text("pip_requirements: [kiln-probe]\n")
    result = offline.cli("environment", "create", "-f", str(nameless))
    assert result.returncode == 2 and "name: required" in result.stderr
    result = offline.cli("job", "create")
    assert result.returncode == 2 and "--file" in result.stderr and "--rerun" in result.stderr


# Against the package registry ----------------------------------------------------------------------
SIX_SCRIPT = textwrap.dedent(
    """
    import mlflow, six
    print("six", six.__version__)
    mlflow.log_metric("six_minor", int(six.__version__.split(".")[1]))
    """
)


@pytest.mark.registry
def test_registry_build_hit_change_job_and_rerun(workspace: WorkspaceServer, tmp_path: Path) -> None:
    with workspace.client() as client:
        first = env_file(tmp_path, "six-env", "six==1.16.0")
        cold = client.environments.create(first)
        hit = client.environments.create(first, name="six-env-copy")
        assert cold.status == hit.status == "ready" and hit.hash == cold.hash
        assert hit.build_log == cold.build_log  # nothing was built again: the venv came from the cache
        assert "six==1.16.0" in cold.packages
        assert f"mlflow-skinny=={metadata.version('mlflow')}" in cold.packages

        changed = client.environments.create(env_file(tmp_path / "v2", "six-env", "six==1.17.0", version="2"))
        assert changed.hash != cold.hash and "six==1.17.0" in changed.packages

        job = client.jobs.create(job_file(tmp_path / "job", "environment: kiln:six-env:1\n", SIX_SCRIPT)).wait(180)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert job.metrics == {"six_minor": 16.0}  # logged by the environment's own MLflow client
        rerun = client.jobs.rerun(job.name).wait(180)
        assert rerun.status == JobStatus.COMPLETED and rerun.metrics == {"six_minor": 16.0}
        assert client.environments.of_job(rerun.name)["lock"] == client.environments.of_job(job.name)["lock"]


@pytest.mark.registry
def test_registry_broken_requirement_fails_in_preparing(workspace: WorkspaceServer, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    env_file(folder, "broken-six", "six==99.1")
    with workspace.client() as client:
        job = client.jobs.create(job_file(folder, "environment:\n  conda_file: broken-six-conda.yml\n")).wait(180)
    assert job.status == JobStatus.FAILED and job.view.started_at is None
    reason = job.view.failure_reason or ""
    assert reason.startswith("preparing the job failed") and "six==99.1" in reason
