"""Sandboxed jobs (issue 11): a contributor's job, run for real, tries to reach what is not its own.

Each probe runs inside one real job submitted by the contributor on the suite's server, and reports what it
reached; every attempt must be refused, while the job still reads its input and writes ``./outputs``:

- ``KILN_HOME/token``, ``endpoint-keys.secret``, ``kiln.db``, ``mlflow/mlflow.db``, the server's log, the
  listing of ``KILN_HOME``, another running job's folder, a replica's config file (its port and secret),
  MLflow's ``process.json`` (its port);
- MLflow's child and a replica's port, connected to directly (refused: they check a secret, and the replica's
  config that holds it is out of the job's sight);
- the server's processes (``/proc/<server pid>``: another PID namespace) and signalling them;
- writing into kiln's installation (its package folder, the server's site-packages);
- a symlink in ``./outputs`` that points at the token (kept outputs never follow a link);
- a job submitted with the workspace token holds a job token of its own (revoked when it ends), never the
  workspace token.

The fallback, on servers of this module's own: with the sandbox tool missing a job runs and says "not
isolated" in its log and its view; a team server (users exist) then refuses to start, and starts with
``allow_unisolated_jobs``. The database files are 0600.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import sysconfig
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import kiln
from kiln.specs.users import Role
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, wait_for
from tests.lanes import server_fixture
from tests.security.conftest import Seeded, Team, bearer_http, run_probe_job

pytestmark = pytest.mark.slow

MISSING_TOOL = "/nonexistent/bwrap"
VICTIM_SECRET = f"victim-{uuid.uuid4().hex}"

# What the probe tries, each caught and reported: "refused: <error>" or what it got.
PROBE = """\
import glob, json, os, signal, socket, urllib.request

home = os.environ["PROBE_HOME"]


def attempt(name, action):
    try:
        report(**{name: "reached: " + repr(action())[:200]})
    except Exception as error:
        report(**{name: "refused: " + repr(error)[:200]})


def read(path):
    with open(path, "rb") as handle:
        return handle.read(200)


def http(url, data=None):
    return urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10).status


def touch_and_remove(folder):
    path = os.path.join(folder, "kiln-sandbox-probe-" + os.environ["KILN_JOB_ID"])
    open(path, "w").close()
    os.remove(path)
    return path


attempt("token", lambda: read(os.path.join(home, "token")))
attempt("endpoint_keys", lambda: read(os.path.join(home, "endpoint-keys.secret")))
attempt("kiln_db", lambda: read(os.path.join(home, "kiln.db")))
attempt("mlflow_db", lambda: read(os.path.join(home, "mlflow", "mlflow.db")))
attempt("server_log", lambda: read(glob.glob(os.path.join(home, "server*.log"))[0]))
attempt("mlflow_port_file", lambda: read(os.path.join(home, "mlflow", "process.json")))
attempt("replica_configs", lambda: [read(p) for p in glob.glob(os.path.join(home, "endpoints", "replicas", "**", "*.json"), recursive=True)] or 1 / 0)
attempt("other_job", lambda: read(os.path.join(home, "jobs", os.environ["PROBE_VICTIM"], "wd", "secret.txt")))
report(home_listing=sorted(os.listdir(home)) if os.path.isdir(home) else None)
attempt("mlflow_child", lambda: http("http://127.0.0.1:" + os.environ["PROBE_MLFLOW_PORT"] + "/api/2.0/mlflow/experiments/search?max_results=1"))
def score_with_a_found_secret():
    secrets = []  # whatever replica config the job can read (none, in the sandbox)
    for path in glob.glob(os.path.join(home, "endpoints", "replicas", "**", "*.json"), recursive=True):
        try:
            secrets.append(json.load(open(path))["secret"])
        except Exception:
            pass
    request = urllib.request.Request("http://127.0.0.1:" + os.environ["PROBE_REPLICA_PORT"] + "/score", b"{}")
    request.add_header("x-kiln-internal-secret", secrets[0] if secrets else "guessed")
    return urllib.request.urlopen(request, timeout=10).status


attempt("replica", score_with_a_found_secret)
attempt("server_proc", lambda: read("/proc/" + os.environ["PROBE_SERVER_PID"] + "/environ"))
attempt("server_signal", lambda: os.kill(int(os.environ["PROBE_SERVER_PID"]), 0))
attempt("kiln_package", lambda: touch_and_remove(os.environ["PROBE_KILN_PACKAGE"]))
attempt("site_packages", lambda: touch_and_remove(os.environ["PROBE_SITE_PACKAGES"]))
os.makedirs("outputs", exist_ok=True)
os.symlink(os.path.join(home, "token"), os.path.join("outputs", "leak.txt"))
report(environment_names=sorted(os.environ), input_text=open(os.environ["AZURE_ML_INPUT_data"]).read())
"""
# the job's own: where to reach the workspace as its creator, its names, its TensorBoard folder, and where a Ray
# instance it starts keeps its files (inside its own folder; local compute)
JOB_VARIABLES = {"KILN_URL", "KILN_TOKEN", "KILN_JOB_ID", "KILN_JOB_NAME", "KILN_TENSORBOARD_DIR", "KILN_RAY_TEMP_DIR"}
REFUSED_PROBES = (
    "token", "endpoint_keys", "kiln_db", "mlflow_db", "server_log", "mlflow_port_file", "replica_configs",
    "other_job", "mlflow_child", "replica", "server_proc", "server_signal", "kiln_package", "site_packages",
)  # fmt: skip


def _listening_ports(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN}


def _replica_port(home: Path) -> int:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if "kiln.serving.replica" in cmdline and str(home) in cmdline:
            return min(_listening_ports(process.pid))
    raise AssertionError("no replica process found")


@pytest.fixture(scope="module")
def victim(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another job of the contributor, running, with a secret in its working folder: its id."""
    code = tmp_path_factory.mktemp("victim")
    (code / "victim.py").write_text(f"open('secret.txt', 'w').write({VICTIM_SECRET!r})\nimport time\ntime.sleep(600)\n")
    with team.contributor.client(security_server) as client:
        job = client.jobs.create({"command": "python victim.py", "code": str(code), "experiment_name": "attack-suite"})
        folder = security_server.home / "jobs" / job.view.id / "wd" / "secret.txt"
        wait_for(folder.exists, timeout=180, what="the victim job to write its secret")
        yield job.view.id
        client.jobs.cancel(job.name)


@pytest.fixture(scope="module")
def attempt(
    security_server: WorkspaceServer, team: Team, seeded: Seeded, seeded_deployment: str, victim: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:  # fmt: skip
    """What the contributor's probe job reached."""
    home = security_server.home
    mlflow_port = int(json.loads((home / "mlflow" / "process.json").read_text())["port"])
    data = tmp_path_factory.mktemp("probe-input") / "rows.csv"
    data.write_text("a,b\n1,2\n")
    assert security_server.process is not None
    variables = {
        "PROBE_HOME": str(home), "PROBE_VICTIM": victim, "PROBE_MLFLOW_PORT": str(mlflow_port),
        "PROBE_REPLICA_PORT": str(_replica_port(home)), "PROBE_SERVER_PID": str(security_server.process.pid),
        "PROBE_KILN_PACKAGE": str(Path(kiln.__file__).parent), "PROBE_SITE_PACKAGES": sysconfig.get_paths()["purelib"],
    }  # fmt: skip
    folder = tmp_path_factory.mktemp("probe")
    run = run_probe_job(
        security_server, team.contributor.token, PROBE, folder=folder, environment_variables=variables,
        inputs={"data": {"type": "uri_file", "path": str(data)}},
    )  # fmt: skip
    return {**run.report, "_job": run.job, "_log": run.log}


@pytest.mark.parametrize("probe", REFUSED_PROBES)
def test_a_contributors_job_is_refused(attempt: dict[str, Any], probe: str) -> None:
    assert str(attempt[probe]).startswith("refused: "), f"{probe}: {attempt[probe]}"


def test_the_job_sees_nothing_else_of_kiln_home_and_still_does_its_work(attempt: dict[str, Any]) -> None:
    assert set(attempt["home_listing"] or []) <= {"jobs", "envs"}, attempt["home_listing"]
    assert attempt["input_text"] == "a,b\n1,2\n"  # its input, read; its report came back through ./outputs
    kiln_names = {name for name in attempt["environment_names"] if name.startswith("KILN_")}
    assert kiln_names == JOB_VARIABLES, kiln_names  # the job's own, none of the server's settings (KILN_HOME…)
    assert attempt["_job"].isolation.startswith("sandboxed (bubblewrap"), attempt["_job"].isolation
    assert "not isolated" not in attempt["_log"]


def test_a_symlink_in_outputs_is_not_followed_out(
    security_server: WorkspaceServer, team: Team, attempt: dict[str, Any]
) -> None:
    with team.contributor.client(security_server) as client:
        with client.jobs.open_output(attempt["_job"].name, "default") as archive:
            with tarfile.open(fileobj=archive, mode="r|") as tar:
                names = [member.name for member in tar]
    assert not [name for name in names if name.endswith("leak.txt")], names


def test_a_job_of_the_workspace_token_gets_its_own_token(
    security_server: WorkspaceServer, team: Team, tmp_path: Path
) -> None:
    script = """\
    import os
    report(token=os.environ["KILN_TOKEN"], anywhere=[k for k, v in os.environ.items() if os.environ["PROBE_W"] in v])
    """
    # the probe is told the workspace token to look for it; a copy without it proves what the job holds
    run = run_probe_job(
        security_server, team.workspace_token, script, folder=tmp_path,
        environment_variables={"PROBE_W": team.workspace_token[:12]},
    )  # fmt: skip
    assert run.report["token"] != team.workspace_token and run.report["token"].startswith("kiln_")
    assert run.report["anywhere"] == ["PROBE_W"], run.report
    with bearer_http(security_server, run.report["token"]) as http:
        answer = http.get("/api/v1/whoami")
    assert answer.status_code == 401 and "revoked" in answer.text  # it ended with the job


def test_database_files_are_the_owners_only(security_server: WorkspaceServer, seeded: Seeded) -> None:
    home = security_server.home
    files = [home / "kiln.db", home / "mlflow" / "mlflow.db"]
    files += [path.with_name(path.name + suffix) for path in files for suffix in ("-wal", "-shm")]
    modes = {str(path): oct(stat.S_IMODE(path.stat().st_mode)) for path in files if path.exists()}
    assert str(home / "kiln.db") in modes and str(home / "mlflow" / "mlflow.db") in modes
    assert set(modes.values()) == {"0o600"}, modes


# Where no sandbox can be made -------------------------------------------------------------------
@server_fixture(scope="module")
def unsandboxed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """A server whose sandbox tool is missing (allowed to start: it has no users yet)."""
    home = tmp_path_factory.mktemp("kiln-unsandboxed-home")
    server = WorkspaceServer(home, server_env(home, job_sandbox=MISSING_TOOL)).start()
    yield server
    server.stop()
    cleanup_jobs(home)


def test_without_a_sandbox_the_job_runs_and_says_it_is_not_isolated(
    unsandboxed: WorkspaceServer, tmp_path: Path
) -> None:
    run = run_probe_job(unsandboxed, unsandboxed.token, "report(ran=True)\n", folder=tmp_path)
    assert run.report == {"ran": True}
    assert run.job.isolation == f"not isolated: the sandbox tool {MISSING_TOOL} (setting job_sandbox) does not exist"
    lines = [line for line in run.log.splitlines() if "not isolated" in line]
    assert lines == [f"kiln: this job is {run.job.isolation} (it runs as the server's user and can read its files)"]
    shown = unsandboxed.cli("job", "show", "-n", run.job.name)
    assert "not isolated" in shown.stdout, shown.stdout


def test_a_team_server_refuses_to_start_unisolated_unless_allowed(unsandboxed: WorkspaceServer) -> None:
    with unsandboxed.client() as client:
        client.users.create(f"someone-{uuid.uuid4().hex[:6]}", Role.READER)
    unsandboxed.stop()
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "kiln", "server", "run", "--home", str(unsandboxed.home)],
            env=unsandboxed.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert refused.returncode != 0
        said = [line for line in (refused.stdout + refused.stderr).splitlines() if "refusing" in line]
        assert len(said) == 1 and said[0].startswith("error: refusing to start a team server (this workspace has "
                                                     "users): jobs would run not isolated: "), said  # fmt: skip
        assert "KILN_ALLOW_UNISOLATED_JOBS" in said[0] and "Traceback" not in refused.stderr
    finally:
        unsandboxed.env["KILN_ALLOW_UNISOLATED_JOBS"] = "true"
        unsandboxed.start()
    with unsandboxed.client() as client:
        assert client.users.list()
