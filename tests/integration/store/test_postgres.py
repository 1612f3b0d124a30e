"""Workspaces on a real PostgreSQL (tests/postgres_server.py starts one): a job end to end with
MLflow's store in PostgreSQL too, several servers on one database (each job claimed and run
exactly once, a cancel through the other server stopping a job within a second, a rollout started through one
server seen, refused and cancelled through the other, no database URL
in a job's environment or any command line, a killed server's queued jobs taken by the other,
its running jobs recovered by itself only, the endpoint controller taken over), and clear errors
for a database that cannot be used.

The ``team`` servers share a database copied from the cluster's migrated template; the test
that crashes and restarts servers starts its own on an empty database, migrated by both at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import psutil
import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kiln.specs.views import JobStatus
from kiln.store.postgres import ENDPOINT_CONTROLLER_LOCK
from tests import postgres_server as postgres_fixtures
from tests.conftest import (
    REPO,
    UNSANDBOXED,
    WorkspaceServer,
    cleanup_jobs,
    server_env,
    stop_replicas,
    wait_for,
    write_job,
)
from tests.integration.rollout.helpers import create_endpoint
from tests.lanes import server_fixture
from tests.postgres_server import PostgresServer

postgres_server = postgres_fixtures.postgres_server  # the session's PostgreSQL (a fixture)

pytestmark = pytest.mark.slow


def _database_name() -> str:
    return f"kiln_{uuid.uuid4().hex[:10]}"


@server_fixture
def servers(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Workspace servers a test starts (not yet started: ``servers(**settings)``); stopped at the end."""
    made: list[WorkspaceServer] = []

    def factory(**settings: str) -> WorkspaceServer:
        home = tmp_path_factory.mktemp("kiln-pg-home")
        made.append(
            WorkspaceServer(home, server_env(home, **{**UNSANDBOXED, **settings}))
        )  # jobs write to test folders
        return made[-1]

    yield factory
    for server in made:
        server.stop()
        cleanup_jobs(server.home)
        stop_replicas(server.home)  # replicas outlive a crashed server on purpose


@dataclass
class Team:
    """Two servers, each with its own home, on one database and one artifact root."""

    database: str
    first: WorkspaceServer
    second: WorkspaceServer

    def server_id(self, server: WorkspaceServer) -> str:
        return (server.home / "server_id").read_text().strip()


@server_fixture(scope="module")
def team(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """Two servers (two job slots each) on a database copied from the migrated template, for the tests that
    neither crash, restart nor reconfigure them (each uses names of its own)."""
    database = _database_name()
    url = postgres_server.create_migrated_database(database)
    settings = {"artifact_root": str(tmp_path_factory.mktemp("team-artifacts")), "local_concurrency": "2"}
    homes = [tmp_path_factory.mktemp("kiln-team-home") for _ in range(2)]
    settings.update(UNSANDBOXED)  # their jobs write to the tests' folders
    first, second = (WorkspaceServer(home, server_env(home, database_url=url, **settings)) for home in homes)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda server: server.start(timeout=240), (first, second)))
        yield Team(database, first, second)
    finally:
        for server in (first, second):
            server.stop()
            cleanup_jobs(server.home)


def test_a_job_end_to_end_on_postgres(postgres_server: PostgresServer, team: Team) -> None:
    database, server = team.database, team.first
    result = server.cli(
        "job", "create", "-f", str(REPO / "examples" / "sklearn-regression" / "job.yml"), "--stream", "-o", "json",
        check=True,
    )  # fmt: skip
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "completed"
    # either server's engine may claim it (one queue in the database; the submitting one is woken first, the other
    # polls, and on a loaded machine the poll has won): the job names the one that ran it
    server_id = view["server_id"]
    assert server_id in {team.server_id(team.first), team.server_id(team.second)}, server_id
    shown = server.cli("job", "show", "--name", view["name"], check=True).stdout
    assert "server" in shown and server_id in shown

    # metrics and the registered model, through the real mlflow client and the workspace's /mlflow
    os.environ.update(server.mlflow_env())
    try:
        client = MlflowClient(tracking_uri=f"{server.url}/mlflow")
        assert client.get_run(view["id"]).data.metrics["test_r2"] > 0.3
        client.log_metric(view["id"], "checked_by_the_test", 1.0)
        (version,) = client.search_model_versions("name = 'diabetes-regressor'")
        assert version.run_id == view["id"]
        model = mlflow.pyfunc.load_model(f"models:/diabetes-regressor/{version.version}")
        from sklearn.datasets import load_diabetes

        assert len(model.predict(load_diabetes(as_frame=True).data.head(3))) == 3

        # the studio's reads on PostgreSQL: a long series thinned in SQL, the job list searched in SQL
        curve = [Metric("curve", float(step % 7), 1_700_000_000_000 + step, step) for step in range(200)]
        client.log_batch(view["id"], metrics=curve)
        with server.client() as kiln:
            thinned = kiln.jobs.metric_series(view["name"], max_points=20)["curve"]
            assert len(thinned.steps) <= 20 and (thinned.steps[0], thinned.steps[-1]) == (0, 199)
            assert (min(thinned.values), max(thinned.values)) == (0.0, 6.0)
            found, total = kiln.jobs.search(status="completed", text=view["name"][:12], sort="-duration")
            assert total >= 1 and view["name"] in [job.name for job in found]
    finally:
        for key in server.mlflow_env():
            os.environ.pop(key, None)

    # kiln's rows in the database, MLflow's in the sibling database: nothing in SQLite files
    assert postgres_server.query(f"SELECT status, server_id FROM jobs WHERE name = '{view['name']}'", database) == [
        ("completed", server_id)
    ]
    mlflow_database = f"{database}_mlflow"
    assert mlflow_database in postgres_server.databases()
    assert {"runs", "metrics", "registered_models", "model_versions"} <= postgres_server.tables(mlflow_database)
    assert "runs" not in postgres_server.tables(database)  # MLflow's tables stay out of kiln's database
    keys = postgres_server.query(f"SELECT key FROM metrics WHERE run_uuid = '{view['id']}'", database=mlflow_database)
    assert {"test_r2", "checked_by_the_test"} <= {key for (key,) in keys}
    assert postgres_server.query("SELECT name FROM registered_models", database=mlflow_database) == [
        ("diabetes-regressor",)
    ]
    assert not list(server.home.rglob("*.db"))


CANCELABLE = """\
import os, pathlib, signal, sys, time
folder = pathlib.Path(sys.argv[1])

def stop(signum, frame):
    (folder / "stopped-at").write_text(repr(time.time()))
    sys.exit(143)

signal.signal(signal.SIGTERM, stop)
(folder / "pid").write_text(str(os.getpid()))
while True:
    time.sleep(0.05)
"""


def test_a_pipeline_and_a_sweep_on_two_servers_start_each_step_and_trial_once(team: Team, tmp_path: Path) -> None:
    """Both servers go over the live pipelines and sweeps every fraction of a second, from the database alone; they
    take turns (an advisory lock per kind), so neither starts a step or submits a trial the other did."""
    steps = {f"step{index}": {"command": f"echo step {index}"} for index in range(6)}
    pipeline_file = tmp_path / "pipeline.yml"
    pipeline_file.write_text(json.dumps({"type": "pipeline", "jobs": steps}))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "trial.py").write_text("import sys, mlflow; mlflow.log_metric('loss', float(sys.argv[1]))\n")
    sweep_file = tmp_path / "sweep.yml"
    sweep_file.write_text(json.dumps({
        "type": "sweep", "trial": {"code": "./src", "command": "python trial.py ${{search_space.x}}"},
        "search_space": {"x": {"type": "uniform", "min_value": 0.0, "max_value": 1.0}},
        "sampling_algorithm": {"type": "random", "seed": 3}, "objective": {"goal": "minimize", "primary_metric": "loss"},
        "limits": {"max_total_trials": 8, "max_concurrent_trials": 4},
    }))  # fmt: skip
    with team.first.client() as a, team.second.client() as b:
        pipeline, sweep = a.jobs.create(pipeline_file), b.jobs.create(sweep_file)
        for parent in (pipeline, sweep):
            ended = a.jobs.get(parent.name).wait(timeout=240, poll=0.25)
            assert ended.status == JobStatus.COMPLETED, ended.view.failure_reason
        children = {
            parent.name: a.jobs.search(tags={"kiln.parent": parent.name}, limit=100)[0] for parent in (pipeline, sweep)
        }
    started = Counter(child.view.tags["kiln.pipeline.step"] for child in children[pipeline.name])
    assert started == Counter(steps.keys())  # each step once
    trials = Counter(child.view.tags["kiln.sweep.trial"] for child in children[sweep.name])
    assert trials == Counter(str(index) for index in range(8))  # each trial once


def test_a_cancel_through_another_server_stops_the_job_within_a_second(team: Team, tmp_path: Path) -> None:
    folder = tmp_path / "marks"
    folder.mkdir()
    job_file = write_job(tmp_path / "job", f"command: python wait.py {folder}\ncode: ./src\n", {"wait.py": CANCELABLE})
    with team.first.client() as a, team.second.client() as b:
        job = a.jobs.create(job_file)
        wait_for(lambda: (folder / "pid").exists(), timeout=120, what="the job to start")
        wait_for(lambda: a.jobs.get(job.name).status == JobStatus.RUNNING, what="the job to be running")
        runs_on_first = a.jobs.get(job.name).view.server_id == team.server_id(team.first)
        owner, other = (a, b) if runs_on_first else (b, a)
        assert other.jobs.cancel(job.name).status == JobStatus.RUNNING  # the other server can only set the flag
        flagged = time.time()  # wall clock, as the job writes when its SIGTERM came
        stopped = wait_for(
            lambda: (folder / "stopped-at").exists() and (folder / "stopped-at").read_text(), timeout=30,
            interval=0.02, what="the job to be stopped",
        )  # fmt: skip
        assert float(stopped) - flagged < 1.0, f"stopped {float(stopped) - flagged:.2f} s after the cancel"
        done = owner.jobs.get(job.name).wait(timeout=60, poll=0.1)
    assert done.status == JobStatus.CANCELED and done.view.failure_reason == "canceled by the user"


def test_a_rollout_through_one_server_is_seen_refused_and_cancelled_through_the_other(
    team: Team, tmp_path: Path
) -> None:
    name = "team-rollout"
    create_endpoint(team.first, tmp_path, name, ("blue", "green"))
    with team.first.client() as a, team.second.client() as b:
        a.online_endpoints.rollout(name, "green", [10, 100], window_seconds=3600)  # runs in the first server
        seen = wait_for(lambda: (view := b.online_endpoints.get_rollout(name)).windows and view, what="the first step")
        assert seen.status == "running" and seen.traffic == {"blue": 90, "green": 10}
        refused = team.second.cli("online-endpoint", "rollout", "-n", name, "--deployment", "green", "--steps", "100")
        assert refused.returncode == 4 and "has a rollout of 'green' running" in refused.stderr, refused.stderr
        asked = time.monotonic()
        cancelled = b.online_endpoints.cancel_rollout(name)  # the first server reads the flag within a second
        took = time.monotonic() - asked
        assert cancelled.status == "cancelled" and cancelled.reason == "cancelled by a user", cancelled
        assert cancelled.cancel_requested and took < 3.0, f"the cancel through the other server took {took:.2f} s"
        assert a.online_endpoints.get_rollout(name).status == "cancelled"
        assert b.online_endpoints.get(name).traffic == {"blue": 100}
        a.online_endpoints.delete(name)


ENVIRONMENT_PROBE = """\
import json, os, pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text(json.dumps({"pid": os.getpid(), "environ": dict(os.environ)}))
while not pathlib.Path(sys.argv[2]).exists():
    time.sleep(0.05)
"""


def test_a_database_url_never_reaches_a_job_or_a_command_line(
    postgres_server: PostgresServer, team: Team, tmp_path: Path
) -> None:
    secret = postgres_server.password  # in the URL both servers were given (KILN_DATABASE_URL)
    seen, release = tmp_path / "seen.json", tmp_path / "release"
    job_file = write_job(
        tmp_path / "job", f"command: python probe.py {seen} {release}\ncode: ./src\n", {"probe.py": ENVIRONMENT_PROBE}
    )
    with team.first.client() as a:
        job = a.jobs.create(job_file)
        wait_for(seen.exists, timeout=120, what="the job to write what it sees")
        try:
            probe = json.loads(seen.read_text())
            assert not [key for key, value in probe["environ"].items() if secret in value or "DATABASE_URL" in key]
            server_pids = {server.process.pid for server in (team.first, team.second) if server.process}
            job_processes = _ancestors_below(psutil.Process(probe["pid"]), server_pids)
            assert len(job_processes) >= 2  # the command and kiln's job process above it
            for process in job_processes:  # what PostgreSQL's URL would be visible in: /proc/PID/environ
                assert not [value for value in process.environ().values() if secret in value], process.cmdline()
            started = [psutil.Process(pid) for pid in server_pids]
            started += [child for parent in list(started) for child in parent.children(recursive=True)]
            assert len(started) >= 4  # two servers, their MLflow servers, the job
            for process in started:  # ps shows every command line to every user of the machine
                assert secret not in " ".join(process.cmdline()), process.cmdline()
        finally:
            release.touch()
        assert a.jobs.get(job.name).wait(timeout=60).status == JobStatus.COMPLETED


def _ancestors_below(process: psutil.Process, stop_at: set[int]) -> list[psutil.Process]:
    """``process`` and its parents up to (not including) one whose pid is in ``stop_at``."""
    chain = []
    while process is not None and process.pid not in stop_at and process.pid > 1:
        chain.append(process)
        process = process.parent()
    return chain


APPEND = """\
import os, sys
line = (sys.argv[1] + "\\n").encode()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(fd, line)
os.close(fd)
"""

WAITER = """\
import os, pathlib, sys, time
tag, ran, folder = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
(folder / f"{tag}.pid").write_text(str(os.getpid()))
while not (folder / f"{tag}.release").exists():
    time.sleep(0.1)
fd = os.open(ran, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(fd, (tag + "\\n").encode())
os.close(fd)
"""


@pytest.mark.timeout(900)  # six server starts on two cores
def test_two_servers_share_one_database(postgres_server: PostgresServer, servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    database = _database_name()
    url = postgres_server.create_database(database)
    artifacts = tmp_path / "artifacts"
    common = {"artifact_root": str(artifacts), "local_concurrency": "2"}
    first = servers(database_url=url, **common)
    second = servers(database_url="postgres://" + url.split("://", 1)[1], **common)  # postgres:// is accepted too
    with ThreadPoolExecutor(2) as pool:  # at the same time: kiln's and MLflow's migrations must not race
        list(pool.map(lambda server: server.start(timeout=240), (first, second)))
    # the crash below must hit the server that runs the endpoint controller: that one is "first"
    holder = wait_for(
        lambda: controller_holder(postgres_server, database, (first, second)), what="a server to run the controller"
    )
    if holder is second:
        first, second = second, first
    first_id, second_id = ((server.home / "server_id").read_text().strip() for server in (first, second))
    assert first_id != second_id
    ran = tmp_path / "ran.txt"
    folder = tmp_path / "waiters"
    folder.mkdir()
    append_job = write_job(tmp_path / "append", f"command: python append.py ${{{{inputs.tag}}}} {ran}\ncode: ./src\ninputs:\n  tag: x\n", {"append.py": APPEND})  # fmt: skip
    waiter_job = write_job(
        tmp_path / "waiter",
        f"command: python waiter.py ${{{{inputs.tag}}}} {ran} {folder}\ncode: ./src\ninputs:\n  tag: x\n",
        {"waiter.py": WAITER},
    )

    # 20 jobs submitted alternately through both servers: each runs exactly once, on one of them
    with first.client() as a, second.client() as b:
        jobs = [(a, b)[i % 2].jobs.create(append_job, overrides=[f"inputs.tag=job-{i}"]) for i in range(20)]
        for job in jobs:
            job.wait(timeout=240, poll=0.25)
        views = [a.jobs.get(job.name).view for job in jobs]
    assert [view.status for view in views] == [JobStatus.COMPLETED] * 20
    assert Counter(ran.read_text().splitlines()) == Counter(f"job-{i}" for i in range(20))
    assert {view.server_id for view in views} == {first_id, second_id}  # both took part

    # an online endpoint: one server (the one holding the controller lock) runs its replica; both gateways serve it
    iris = load_iris(as_frame=True)
    model = tmp_path / "model"
    mlflow.sklearn.save_model(LogisticRegression(max_iter=500).fit(iris.data, iris.target), str(model))
    sample = {"input_data": {"columns": list(iris.data.columns), "data": iris.data.iloc[:3].values.tolist()}}
    with first.client() as a, second.client() as b:
        b.online_endpoints.create({"name": "shared"})
        b.online_deployments.create(
            {"name": "blue", "endpoint_name": "shared", "model": {"path": str(model)},
             "readiness_probe": {"initial_delay": 0, "period": 1, "failure_threshold": 60}},
            all_traffic=True,
        )  # fmt: skip
        key = b.online_endpoints.get_keys("shared").primary_key
        scoring = {name: c.online_endpoints.get("shared").scoring_uri for name, c in (("first", a), ("second", b))}
    assert scoring["first"].startswith(first.url) and scoring["second"].startswith(second.url)

    def answers(uri: str) -> bool:
        response = httpx.post(uri, json=sample, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        return response.status_code == 200 and len(response.json()) == 3

    for uri in scoring.values():
        wait_for(lambda uri=uri: answers(uri), timeout=30, what=f"{uri} to answer")
    assert postgres_server.query("SELECT count(*) FROM online_replicas", database) == [(1,)]  # not one per server

    # four waiters fill both servers (two slots each); six more jobs stay queued
    with first.client() as a, second.client() as b:
        waiters = [(a, b)[i % 2].jobs.create(waiter_job, overrides=[f"inputs.tag=w{i}"]) for i in range(4)]
        wait_for(lambda: all((folder / f"w{i}.pid").exists() for i in range(4)), timeout=120, what="4 waiters")
        wait_for(lambda: all(a.jobs.get(w.name).status == JobStatus.RUNNING for w in waiters), what="waiters running")
        # six more stay queued: both servers are full (checked below from when and where each of them ran)
        queued = [(a, b)[i % 2].jobs.create(append_job, overrides=[f"inputs.tag=q{i}"]) for i in range(6)]
        owner = {w.name: a.jobs.get(w.name).view.server_id for w in waiters}
    assert Counter(owner.values()) == Counter({first_id: 2, second_id: 2})
    firsts = [w for w in waiters if owner[w.name] == first_id]
    seconds = [w for w in waiters if owner[w.name] == second_id]
    tags = {w.name: f"w{waiters.index(w)}" for w in waiters}

    # the first server crashes: its waiters go on, unwatched, and the second takes the endpoint controller over
    first.kill()
    pids = {w.name: int((folder / f"{tags[w.name]}.pid").read_text()) for w in waiters}
    assert all(psutil.pid_exists(pids[w.name]) for w in firsts)
    wait_for(
        lambda: controller_holder(postgres_server, database, (first, second)) is second, timeout=30,
        what="the second server to take the endpoint controller over",
    )  # fmt: skip
    with second.client() as b:
        # a cancel asked of the second server for the first server's job: only the flag is set
        assert b.jobs.cancel(firsts[0].name).status == JobStatus.RUNNING
        os.kill(pids[firsts[1].name], signal.SIGKILL)  # and this one's command dies while its server is down
        for waiter in seconds:  # the second server's slots free up: it runs all six queued jobs
            (folder / f"{tags[waiter.name]}.release").touch()
        for job in [*seconds, *queued]:
            done = b.jobs.get(job.name).wait(timeout=120, poll=0.25)
            assert done.status == JobStatus.COMPLETED, done.view.failure_reason
        # the first server, full until its crash, took none; the second took none before a slot of its own was free
        taken = [b.jobs.get(q.name).view for q in queued]
        assert {view.server_id for view in taken} == {second_id}
        freed = min(b.jobs.get(w.name).view.ended_at for w in seconds)  # type: ignore[type-var]
        assert all(view.preparing_at and view.preparing_at >= freed for view in taken), (freed, taken)
        assert psutil.pid_exists(pids[firsts[0].name])  # not the second server's to cancel
    # the endpoint still answers through the second server, which runs the controller now
    wait_for(lambda: answers(scoring["second"]), timeout=60, what="the endpoint to answer through the second server")
    assert postgres_server.query("SELECT count(*) FROM online_replicas", database) == [(1,)]

    # a restart of the second server recovers its own jobs only: the first server's stay running
    second.stop()
    second.start(timeout=240)
    with second.client() as b:
        # a job through it runs to its end (rounds of its scheduler after the recovery); the first's stay running
        after = b.jobs.create(append_job, overrides=["inputs.tag=after-restart"]).wait(timeout=120, poll=0.25)
        assert after.status == JobStatus.COMPLETED and after.view.server_id == second_id
        assert [b.jobs.get(w.name).status for w in firsts] == [JobStatus.RUNNING] * 2

    # the first server comes back and recovers its own: the canceled one ends, the dead one fails
    first.start(timeout=240)
    with first.client() as a:
        canceled = a.jobs.get(firsts[0].name).wait(timeout=60, poll=0.25)
        assert canceled.status == JobStatus.CANCELED
        failed = a.jobs.get(firsts[1].name).wait(timeout=60, poll=0.25)
        assert failed.status == JobStatus.FAILED and "SIGKILL" in (failed.view.failure_reason or "")
        assert a.jobs.list(status=JobStatus.RUNNING) == [] and a.jobs.list(status=JobStatus.QUEUED) == []
    lines = Counter(ran.read_text().splitlines())
    expected = [f"job-{i}" for i in range(20)] + [f"q{i}" for i in range(6)] + [tags[w.name] for w in seconds]
    expected.append("after-restart")
    assert lines == Counter(expected)  # every job's command ran exactly once; the first server's waiters never wrote
    assert not psutil.pid_exists(pids[firsts[0].name]) or psutil.Process(pids[firsts[0].name]).status() == "zombie"


def controller_holder(
    postgres: PostgresServer, database: str, servers: tuple[WorkspaceServer, ...]
) -> WorkspaceServer | None:
    """The server whose database connection holds the endpoint-controller advisory lock: PostgreSQL's pg_locks
    names the backend, pg_stat_activity its client port, and that port is one of the server process's own."""
    key = ENDPOINT_CONTROLLER_LOCK & 0xFFFF_FFFF_FFFF_FFFF  # a bigint lock: classid the high half, objid the low
    rows = postgres.query(
        "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        f"WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = {key >> 32} "
        f"AND l.objid = {key & 0xFFFF_FFFF} AND l.database = (SELECT oid FROM pg_database WHERE datname = '{database}')"
    )
    ports = {port for (port,) in rows}
    holders = [
        server
        for server in servers
        if server.process is not None
        and server.process.poll() is None
        and ports & {c.laddr.port for c in psutil.Process(server.process.pid).net_connections("tcp")}
    ]
    assert len(holders) <= 1 and len(ports) <= 1, f"the controller lock held twice: {ports}"
    return holders[0] if holders else None


def _server_run(home: Path, url: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiln", "server", "--database-url", url, "run", "--home", str(home)],
        capture_output=True, text=True, env=server_env(home, **settings), timeout=120, cwd=REPO,
    )  # fmt: skip


def test_a_database_that_cannot_be_used_is_a_clear_error(postgres_server: PostgresServer, tmp_path: Path) -> None:
    database = _database_name()
    postgres_server.create_database(database)
    secret = "not-the-password-4711"
    wrong_password = _server_run(tmp_path / "a", postgres_server.url(database, password=secret))
    assert wrong_password.returncode != 0
    assert wrong_password.stderr.startswith("error: cannot connect to the database postgresql://kiln:***@127.0.0.1")
    assert "password authentication failed" in wrong_password.stderr
    assert secret not in wrong_password.stdout + wrong_password.stderr

    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    unreachable = _server_run(tmp_path / "b", f"postgresql://kiln:{secret}@127.0.0.1:{closed_port}/{database}")
    assert unreachable.returncode != 0
    assert unreachable.stderr.startswith(
        f"error: cannot connect to the database postgresql://kiln:***@127.0.0.1:{closed_port}"
    )
    assert "refused" in unreachable.stderr.lower() and secret not in unreachable.stderr + unreachable.stdout

    no_scheme = _server_run(tmp_path / "c", f"kiln:{secret}@127.0.0.1:{postgres_server.port}/{database}")
    assert no_scheme.returncode != 0
    assert (
        no_scheme.stderr.startswith("error: database_url: ") and "postgresql://USER:PASSWORD@HOST" in no_scheme.stderr
    )
    assert secret not in no_scheme.stderr + no_scheme.stdout

    unknown = _server_run(tmp_path / "d", f"postgresq://kiln:{secret}@127.0.0.1:{postgres_server.port}/{database}")
    assert unknown.returncode != 0 and unknown.stderr.startswith("error: database_url: kiln cannot use 'postgresq://'")
    assert secret not in unknown.stderr + unknown.stdout

    # a role that may not create databases: MLflow's database must be made for it, or named
    postgres_server.create_role("kiln_nocreate", "pw-nocreate")
    own = _database_name()
    postgres_server.create_database(own, owner="kiln_nocreate")
    refused = _server_run(tmp_path / "e", postgres_server.url(own, role="kiln_nocreate", password="pw-nocreate"))
    assert refused.returncode != 0
    assert refused.stderr.splitlines()[-1].startswith("error: MLflow's tracking data lives in its own database")
    assert f"'{own}_mlflow'" in refused.stderr and "mlflow_backend_store_uri" in refused.stderr
    assert "pw-nocreate" not in refused.stderr + refused.stdout


def test_migrations_and_claims_race_free_in_one_database(postgres_server: PostgresServer) -> None:
    """Four engines migrate a fresh database at once, then four claimers drain one queue: each job once."""
    from datetime import UTC, datetime, timedelta

    from kiln.store.database import create_database_engine, migrate, session_factory
    from kiln.store.jobs import JobRepository
    from kiln.store.tables import JobRow

    database = _database_name()
    url = postgres_server.create_database(database)
    engines = [create_database_engine(url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(migrate, engines))
        (heads,) = postgres_server.query("SELECT count(*) FROM alembic_version", database)
        assert heads[0] >= 1 and "jobs" in postgres_server.tables(database)

        repositories = [JobRepository(session_factory(engine)) for engine in engines]
        start = datetime.now(UTC)
        for i in range(200):
            repositories[0].add(
                JobRow(
                    id=f"job{i:03d}",
                    name=f"job{i:03d}",
                    experiment_name="e",
                    experiment_id="0",
                    compute="local",
                    status=JobStatus.QUEUED.value,
                    spec={"command": "true"},
                    created_at=start + timedelta(seconds=i),
                )  # fmt: skip
            )

        def drain(index: int) -> list[str]:
            mine: list[str] = []
            while True:
                claimed = repositories[index].claim_queued(
                    "local", f"server-{index}", lambda rows: [(row, {}) for row in rows[:3]]
                )
                if not claimed and not repositories[index].oldest_queued("local"):
                    return mine
                mine += [row.id for row in claimed]

        with ThreadPoolExecutor(4) as pool:
            claims = list(pool.map(drain, range(4)))
        every = [job for claimed in claims for job in claimed]
        assert sorted(every) == [f"job{i:03d}" for i in range(200)]  # each claimed exactly once
        owners = dict(postgres_server.query("SELECT id, server_id FROM jobs", database))
        for index, claimed in enumerate(claims):
            assert {owners[job] for job in claimed} <= {f"server-{index}"}
        assert sum(1 for claimed in claims if claimed) >= 2  # they claimed side by side, none waited its turn
    finally:
        for engine in engines:
            engine.dispose()
