"""Ray compute against a real one-node Ray cluster (``ray start --head`` on loopback) and a real server process.

Run inside a loopback-only network namespace (DESIGN.md §8), as the README's test command does.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import psutil
import pytest

from kiln.errors import AlreadyExists, Conflict, InvalidSpec, Unavailable
from kiln.processes import free_port
from kiln.specs.views import JobStatus
from tests.conftest import WorkspaceServer, cleanup_jobs, server_env, wait_for, write_job
from tests.lanes import server_fixture
from tests.ray_cluster import RayHead, SubmissionGate, start_ray_head, stop_ray_head

pytestmark = pytest.mark.slow
CLUSTER = "ray-cluster"


@server_fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    head = start_ray_head(num_cpus=2)
    yield head
    stop_ray_head(head)  # asserts that none of its processes is left


@server_fixture(scope="module")
def ray_server(ray_head: RayHead, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    """A workspace server with the cluster registered as 'ray-cluster' (from a compute YAML file)."""
    home = tmp_path_factory.mktemp("kiln-ray-home")
    # as a team server: an unknown azureml: compute is refused (an embedded workspace runs it on local)
    server = WorkspaceServer(home, server_env(home, unknown_azureml_compute="refuse")).start()
    compute_file = home / "compute.yml"
    compute_file.write_text(f"name: {CLUSTER}\ntype: ray\naddress: {ray_head.address}\ndescription: test cluster\n")
    server.cli("compute", "create", "-f", str(compute_file), check=True)
    yield server
    server.stop()
    cleanup_jobs(home)


def _ray_status(head: RayHead, submission_id: str) -> str:
    response = httpx.get(f"{head.address}/api/jobs/{submission_id}", timeout=10)
    response.raise_for_status()
    return str(response.json()["status"])


# Compute targets ---------------------------------------------------------------------------------
def test_computes_show_capacity_and_use(ray_server: WorkspaceServer, ray_head: RayHead) -> None:
    listed = {
        item["name"]: item for item in json.loads(ray_server.cli("compute", "list", "-o", "json", check=True).stdout)
    }
    assert set(listed) == {"local", CLUSTER}
    local = listed["local"]
    assert local["type"] == "local" and local["use"]["cpus"] == (psutil.cpu_count() or 1)
    assert local["use"]["job_slots"] >= 1 and local["use"]["gpus"] == 0
    ray = listed[CLUSTER]
    assert ray["type"] == "ray" and ray["address"] == ray_head.address and ray["description"] == "test cluster"
    assert ray["use"]["nodes"] == 1 and ray["use"]["cpus"] == 2 and ray["use"]["gpus"] == 0
    assert ray["use"]["memory_bytes"] > 0 and ray["problem"] is None
    assert ray["use"]["jobs_running"] == 0 and ray["use"]["jobs_queued"] == 0
    shown = ray_server.cli("compute", "show", "-n", CLUSTER, check=True).stdout
    for fragment in (ray_head.address, "nodes", "CPUs", "memory", "0 running"):
        assert fragment in shown


def test_bad_compute_requests_are_refused_and_change_nothing(ray_server: WorkspaceServer, ray_head: RayHead) -> None:
    with ray_server.client() as client:
        with pytest.raises(AlreadyExists, match="already exists"):
            client.computes.create(name=CLUSTER, type="ray", address=ray_head.address)
        with pytest.raises(AlreadyExists, match="built-in"):
            client.computes.create(name="local", type="ray", address=ray_head.address)
        with pytest.raises(Unavailable, match=r"cannot reach Ray cluster 'nowhere'.*ray start --head"):
            client.computes.create(name="nowhere", type="ray", address=f"http://127.0.0.1:{free_port()}")
        with pytest.raises(InvalidSpec, match="Ray Client address"):
            client.computes.create(name="client", type="ray", address="ray://127.0.0.1:10001")
        with pytest.raises(Conflict, match="built in"):
            client.computes.delete("local")
        assert [view.name for view in client.computes.list()] == ["local", CLUSTER]
    typo = ray_server.home / "typo.yml"
    typo.write_text(f"name: other\ntype: ray\nadress: {ray_head.address}\n")
    result = ray_server.cli("compute", "create", "-f", str(typo))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "line 3" in result.stderr and "unknown field 'adress'" in result.stderr
    wrong_type = ray_server.cli("compute", "create", "--name", "aml", "--type", "amlcompute", "--address", "http://x:1")
    assert wrong_type.returncode != 0 and "field 'type'" in wrong_type.stderr and "'ray'" in wrong_type.stderr


@pytest.mark.parametrize("compute", ["kiln:nope", "azureml:nope"])
def test_a_job_naming_an_unknown_compute_is_refused_with_the_list(
    compute: str, ray_server: WorkspaceServer, tmp_path: Path
) -> None:
    job_file = write_job(tmp_path, f"command: echo hi\ncompute: {compute}\n")
    with ray_server.client() as client:
        before = len(client.jobs.list(limit=10_000))
        result = ray_server.cli("job", "create", "-f", str(job_file))
        assert result.returncode != 0 and result.stderr.startswith("error: compute: ")
        assert f"'{compute}' is not a compute target of this workspace (available: local, {CLUSTER})" in result.stderr
        assert len(client.jobs.list(limit=10_000)) == before


def test_what_ray_compute_cannot_run_is_refused(ray_server: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(
        tmp_path,
        f"command: echo hi\ncompute: azureml:{CLUSTER}\ndistribution:\n  type: mpi\n  process_count_per_instance: 2\n"
        "resources:\n  instance_count: 2\n",
    )
    result = ray_server.cli("job", "create", "-f", str(job_file))
    assert result.returncode != 0
    assert "distribution.type: 'mpi' is not supported on Ray compute 'ray-cluster'" in result.stderr
    assert "resources.instance_count" in result.stderr


# Jobs ---------------------------------------------------------------------------------------------
TRAIN = """\
import os, pathlib, sys
import mlflow

print("training on", os.environ["KILN_JOB_NAME"], flush=True)
for step in range(3):
    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
mlflow.log_param("where", "ray")
pathlib.Path("outputs").mkdir(exist_ok=True)
pathlib.Path("outputs/answer.txt").write_text("42")
model = pathlib.Path(sys.argv[1])
(model / "weights.txt").write_text("0.5 0.25")
print("done training", flush=True)
"""


def test_a_job_runs_end_to_end_on_ray(
    ray_server: WorkspaceServer, ray_head: RayHead, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_file = write_job(
        tmp_path,
        textwrap.dedent(f"""\
            command: python train.py ${{{{outputs.model}}}}
            code: ./src
            compute: kiln:{CLUSTER}
            experiment_name: on-ray
            outputs:
              model: {{type: custom_model, name: ray-model}}
            """),
        {"train.py": TRAIN},
    )
    result = ray_server.cli("job", "create", "-f", str(job_file), "--stream", "-o", "json", check=True)
    # the log was streamed from Ray while the job ran, then the final view printed
    assert "training on" in result.stdout and "done training" in result.stdout
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "completed" and view["exit_code"] == 0 and view["compute"] == CLUSTER
    assert view["started_at"] and view["duration_seconds"] > 0
    assert view["metrics"]["loss"] == pytest.approx(1 / 3) and view["params"]["where"] == "ray"

    # the Ray job behind it, as the cluster reports it
    with ray_server.client() as kiln:
        log = "".join(kiln.jobs.logs(view["name"]))
    assert view["submission_id"] and _ray_status(ray_head, view["submission_id"]) == "SUCCEEDED"
    assert f"submitting to Ray cluster '{CLUSTER}' ({ray_head.address}) as {view['submission_id']}" in log
    assert log.count("done training") == 1  # each line of Ray's log copied once

    # the real mlflow client sees the run, its metric history and the outputs kept as artifacts
    for key, value in ray_server.mlflow_env().items():
        monkeypatch.setenv(key, value)
    client = mlflow.MlflowClient()
    assert client.get_run(view["id"]).info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(view["id"], "loss")] == pytest.approx([1, 0.5, 1 / 3])
    assert {a.path for a in client.list_artifacts(view["id"])} >= {"outputs", "user_logs"}

    # ./outputs came back from the cluster's copy of the code; the declared output was written in place
    target = tmp_path / "download"
    ray_server.cli("job", "download", "-n", view["name"], "--download-path", str(target), check=True)
    assert (target / "default" / "answer.txt").read_text() == "42"
    assert (target / "model" / "weights.txt").read_text() == "0.5 0.25"
    with ray_server.client() as kiln:
        version = kiln.models.get_version("ray-model", "latest")
        assert version.job == view["name"]
        computes = {c.name: c for c in kiln.computes.list()}
        assert computes[CLUSTER].use is not None and computes[CLUSTER].use.jobs_running == 0


def test_outputs_can_come_back_through_mlflow_as_from_a_remote_node(
    ray_server: WorkspaceServer, tmp_path: Path
) -> None:
    """What nodes that do not share the workspace's folder do, asked for on this one-machine cluster."""
    job_file = write_job(
        tmp_path,
        f"command: python write.py\ncode: ./src\ncompute: kiln:{CLUSTER}\n"
        "environment_variables:\n  KILN_RAY_OUTPUTS_VIA: mlflow\n",
        {
            "write.py": "import pathlib\npathlib.Path('outputs').mkdir(exist_ok=True)\npathlib.Path('outputs/via.txt').write_text('mlflow')\n"
        },
    )
    with ray_server.client() as client:
        job = client.jobs.create(job_file).wait(timeout=180)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        written = client.jobs.download(job.name, tmp_path / "download", "default")
        log = "".join(client.jobs.logs(job.name))
    assert "kiln: ./outputs sent to the workspace as MLflow artifacts" in log
    assert (written[0] / "via.txt").read_text() == "mlflow"


COUNT = """\
import json, os, pathlib, sys

data, notes, result = (pathlib.Path(arg) for arg in sys.argv[1:4])
rows = sum(len(path.read_text().splitlines()) for path in sorted(data.glob("*.csv")))
(result / "count.txt").write_text(f"{rows} rows; {notes.read_text()}")
seen = {"argv": sys.argv[1:], "cwd": os.getcwd(), "environment": dict(os.environ)}
(result / "seen.json").write_text(json.dumps(seen))
"""


def test_a_job_reads_its_inputs_and_writes_its_outputs_without_the_servers_disk(
    ray_server: WorkspaceServer, tmp_path: Path
) -> None:
    """A data asset and an uploaded file reach the job as signed URLs its driver downloads into its working dir; its
    named output is written there and handed back through MLflow, as from a node without the server's disk: the
    command line and the environment name no path of the server's (its job folder, its store)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1\n2\n")
    (data / "b.csv").write_text("3\n")
    (tmp_path / "notes.txt").write_text("from the notes")
    job_file = write_job(
        tmp_path,
        textwrap.dedent(f"""\
            command: python count.py ${{{{inputs.data}}}} ${{{{inputs.notes}}}} ${{{{outputs.result}}}}
            code: ./src
            compute: kiln:{CLUSTER}
            inputs:
              data: {{type: uri_folder, path: kiln:ray-rows@latest}}
              notes: {{type: uri_file, path: notes.txt}}
            outputs:
              result: {{type: uri_folder}}
            environment_variables:
              KILN_RAY_OUTPUTS_VIA: mlflow
            """),
        {"count.py": COUNT},
    )
    with ray_server.client() as client:
        client.data.create({"name": "ray-rows", "version": "1", "type": "uri_folder", "path": str(data)})
        job = client.jobs.create(job_file).wait(timeout=240)
        log = "".join(client.jobs.logs(job.name))
        assert job.status == JobStatus.COMPLETED, f"{job.view.failure_reason}\n{log}"
        (result,) = client.jobs.download(job.name, tmp_path / "download", "result")
    assert (result / "count.txt").read_text() == "3 rows; from the notes"
    seen = json.loads((result / "seen.json").read_text())
    assert seen["argv"] == [".kiln_inputs/data", ".kiln_inputs/notes/notes.txt", ".kiln_outputs/result"]
    assert seen["environment"]["AZURE_ML_INPUT_data"] == ".kiln_inputs/data"
    assert seen["environment"]["AZURE_ML_OUTPUT_result"] == ".kiln_outputs/result"
    server_paths = [f"{name}={value}" for name, value in seen["environment"].items() if str(ray_server.home) in value]
    assert not server_paths and str(ray_server.home) not in seen["cwd"]
    for name in ("data", "notes"):
        assert f"kiln: input '{name}' is downloaded from signed URLs (.kiln_inputs/{name}.json" in log
    assert "kiln: input 'data' downloaded (2 files, 6 bytes)" in log
    assert "is copied to the job's folder" not in log


def test_a_failing_job_fails_with_rays_message(ray_server: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(
        tmp_path,
        f"command: python -c \"import sys; print('about to fail', flush=True); sys.exit(3)\"\ncompute: kiln:{CLUSTER}\n",
    )
    with ray_server.client() as client:
        job = client.jobs.create(job_file).wait(timeout=180)
        assert job.status == JobStatus.FAILED and job.view.exit_code == 3
        reason = job.view.failure_reason or ""
        assert reason.startswith("the Ray job failed: ") and "exit code 3" in reason and "about to fail" in reason


SLEEPER = """\
import os, pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
for tick in range(int(sys.argv[2])):
    print(f"tick {tick}", flush=True)
    time.sleep(1)
print("slept well", flush=True)
"""


def _sleeper_job(tmp_path: Path, seconds: int, extra: str = "") -> tuple[Path, Path]:
    pid_file = tmp_path / "job.pid"
    job_file = write_job(
        tmp_path,
        f"command: python sleeper.py {pid_file} {seconds}\ncode: ./src\ncompute: kiln:{CLUSTER}\n{extra}",
        {"sleeper.py": SLEEPER},
    )
    return job_file, pid_file


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_cancel_stops_the_ray_job(ray_server: WorkspaceServer, ray_head: RayHead, tmp_path: Path) -> None:
    job_file, pid_file = _sleeper_job(tmp_path, 300)
    with ray_server.client() as client:
        job = client.jobs.create(job_file)
        wait_for(pid_file.exists, timeout=120, what="the job to start on Ray")
        wait_for(lambda: client.jobs.get(job.name).status == JobStatus.RUNNING, timeout=30, what="running")
        with pytest.raises(Conflict, match=f"'{CLUSTER}' has 1 job\\(s\\) queued or running \\({job.name}\\)"):
            client.computes.delete(CLUSTER)
        assert "canceled" in ray_server.cli("job", "cancel", "-n", job.name, check=True).stdout
        view = client.jobs.get(job.name).view
        log = "".join(client.jobs.logs(job.name))
    assert view.status == JobStatus.CANCELED and view.failure_reason == "canceled by the user"
    assert "tick 0" in log
    assert view.submission_id and _ray_status(ray_head, view.submission_id) == "STOPPED"
    wait_for(lambda: not _alive(int(pid_file.read_text())), timeout=30, what="the job's process to end")


def test_limits_timeout_stops_the_ray_job(ray_server: WorkspaceServer, ray_head: RayHead, tmp_path: Path) -> None:
    job_file, pid_file = _sleeper_job(tmp_path, 300, "limits:\n  timeout: 3\n")
    with ray_server.client() as client:
        job = client.jobs.create(job_file).wait(timeout=180)
    assert job.status == JobStatus.FAILED
    assert (
        job.view.failure_reason == "timed out: the job ran longer than limits.timeout (3 s) and its Ray job was stopped"
    )
    assert job.view.submission_id and _ray_status(ray_head, job.view.submission_id) == "STOPPED"
    wait_for(lambda: not _alive(int(pid_file.read_text())), timeout=30, what="the job's process to end")


RAY_DRIVER = """\
import os
import mlflow
import ray

ray.init()

@ray.remote
def square(x):
    return x * x, os.getpid()

results = ray.get([square.remote(x) for x in range(6)])
total = sum(value for value, _ in results)
print(f"sum of squares {total} from {len({pid for _, pid in results})} worker(s)", flush=True)
print(f"cluster CPUs {ray.cluster_resources()['CPU']:g}", flush=True)
mlflow.log_metric("sum_of_squares", total)
"""


def test_a_ray_distribution_job_drives_the_cluster(ray_server: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(
        tmp_path,
        f"command: python driver.py\ncode: ./src\ncompute: kiln:{CLUSTER}\ndistribution:\n  type: ray\n",
        {"driver.py": RAY_DRIVER},
    )
    with ray_server.client() as client:
        job = client.jobs.create(job_file).wait(timeout=180)
        log = "".join(client.jobs.logs(job.name))
        assert job.status == JobStatus.COMPLETED, f"{job.view.failure_reason}\n{log}"
        assert "sum of squares 55 from" in log and "cluster CPUs 2" in log
        assert job.metrics["sum_of_squares"] == 55


RANKS = """\
import os, sys, time
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
assert rank == int(os.environ["RANK"]) and world == int(os.environ["WORLD_SIZE"])
value = torch.tensor([rank + 1.0])
dist.all_reduce(value)
print(f"rank {rank} of {world} (local {os.environ['LOCAL_RANK']}, node {os.environ['NODE_RANK']}) sum {value.item():g}",
      flush=True)
failing = int(sys.argv[1])
if rank == failing:
    raise SystemExit(f"rank {rank} gives up")
if failing >= 0:
    time.sleep(300)  # kiln's driver must stop this rank once the other has failed
dist.destroy_process_group()
"""


@pytest.mark.parametrize(
    ("instances", "per_instance", "failing_rank"), [(1, 2, -1), (2, 1, -1), (1, 2, 1)], ids=["1x2", "2x1", "failing"]
)
def test_pytorch_ranks_run_on_ray(
    instances: int, per_instance: int, failing_rank: int, ray_server: WorkspaceServer, tmp_path: Path
) -> None:
    job_file = write_job(
        tmp_path,
        textwrap.dedent(f"""\
            command: python ranks.py {failing_rank}
            code: ./src
            compute: kiln:{CLUSTER}
            distribution:
              type: pytorch
              process_count_per_instance: {per_instance}
            resources:
              instance_count: {instances}
            """),
        {"ranks.py": RANKS},
    )
    with ray_server.client() as client:
        job = client.jobs.create(job_file).wait(timeout=240)
        log = "".join(client.jobs.logs(job.name))
    for rank in range(2):  # every rank ran and they reached each other: 1 + 2 = 3
        node = rank // per_instance
        assert f"[rank {rank}] rank {rank} of 2 (local {rank % per_instance}, node {node}) sum 3" in log, log
    if failing_rank < 0:
        assert job.status == JobStatus.COMPLETED, f"{job.view.failure_reason}\n{log}"
    else:
        assert job.status == JobStatus.FAILED
        reason = job.view.failure_reason or ""
        assert "rank 1 of the command (2 processes) exited with code 1" in reason and "rank 1 gives up" in reason


# Restart ------------------------------------------------------------------------------------------
def test_a_restarted_server_reattaches_to_its_ray_jobs(ray_server: WorkspaceServer, tmp_path: Path) -> None:
    job_file, pid_file = _sleeper_job(tmp_path, 12)
    with ray_server.client() as client:
        job = client.jobs.create(job_file)
        wait_for(pid_file.exists, timeout=120, what="the job to start on Ray")
        wait_for(lambda: "tick 1" in "".join(client.jobs.logs(job.name)), timeout=30, what="its first lines")
    ray_server.kill()
    assert _alive(int(pid_file.read_text()))  # the Ray job goes on without the workspace server
    ray_server.start()
    with ray_server.client() as client:
        done = client.jobs.get(job.name).wait(timeout=120)
        log = "".join(client.jobs.logs(job.name))
    assert done.status == JobStatus.COMPLETED, f"{done.view.failure_reason}\n{log}"
    for tick in range(12):  # lines from before and after the restart, each once
        assert log.count(f"tick {tick}\n") == 1, log
    assert log.count("slept well") == 1


ONCE = """\
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(fd, b"ran\\n")
os.close(fd)
"""


def test_a_job_that_never_reached_the_cluster_is_resubmitted_after_a_restart(
    ray_server: WorkspaceServer, ray_head: RayHead, tmp_path: Path
) -> None:
    """The server dies while its submission hangs on the way to Ray (a gate in front of the dashboard holds
    it): the restarted server finds a preparing job that Ray never heard of, and submits it again."""
    gate = SubmissionGate(ray_head.dashboard_port)
    ran = tmp_path / "ran.txt"
    job_file = write_job(
        tmp_path, f"command: python once.py {ran}\ncode: ./src\ncompute: kiln:ray-gated\n", {"once.py": ONCE}
    )
    try:
        with ray_server.client() as client:
            client.computes.create(name="ray-gated", type="ray", address=gate.address)
            gate.holding.set()
            job = client.jobs.create(job_file)
            assert gate.held.wait(120), "the submission never left the workspace server"
            lost = client.jobs.get(job.name).view
            assert lost.status == JobStatus.PREPARING and lost.submission_id
        ray_server.kill()
        gate.release()
        assert httpx.get(f"{ray_head.address}/api/jobs/{lost.submission_id}", timeout=10).status_code == 404
        ray_server.start()
        with ray_server.client() as client:
            done = client.jobs.get(job.name).wait(timeout=180)
            assert done.status == JobStatus.COMPLETED, done.view.failure_reason
            assert done.view.submission_id and done.view.submission_id != lost.submission_id
            assert _ray_status(ray_head, done.view.submission_id) == "SUCCEEDED"
            client.computes.delete("ray-gated")
        assert ran.read_text().splitlines() == ["ran"]  # once: the lost submission never ran
    finally:
        gate.close()
