"""Command jobs end to end against a real server process, real jobs and the real mlflow client."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
from pathlib import Path

import mlflow
import pandas as pd
import psutil
import pytest

from kiln.errors import Conflict, NotFound
from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer, job_processes, wait_for, write_job
from tests.conftest import job_file as job_file_in

pytestmark = pytest.mark.smoke  # the fast lane runs these too (docs/testing.md)

IRIS_JOB = REPO / "examples" / "sklearn-iris" / "job.yml"


def test_iris_example_streams_tracks_and_registers_everything(
    workspace: WorkspaceServer, mlflow_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    result = workspace.cli("job", "create", "-f", str(IRIS_JOB), "--stream", "-o", "json", check=True)
    # the log was streamed, then the final view printed as JSON
    assert "test_accuracy:" in result.stdout
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "completed" and view["exit_code"] == 0
    assert view["duration_seconds"] > 0
    assert view["metrics"]["test_accuracy"] > 0.8
    assert "logisticregression__C" in view["params"]
    assert view["code_hash"] and len(view["code_hash"]) == 64
    name = view["name"]

    # the real mlflow client sees the same job as a run with the same id
    run = mlflow.get_run(name)
    assert run.info.run_id == view["id"] == name
    assert run.info.status == "FINISHED"
    assert run.data.metrics["training_accuracy_score"] > 0.8
    assert run.data.params["logisticregression__C"] == "1.0"
    found = mlflow.search_runs(experiment_names=["sklearn-iris"], filter_string="metrics.test_accuracy > 0.5")
    assert name in set(found["run_id"])

    # artifacts: the autologged model loads back and predicts; ./outputs and the log are kept
    artifacts = {a.path for a in mlflow_client.list_artifacts(name)}
    assert {"outputs", "user_logs"} <= artifacts
    local = mlflow.artifacts.download_artifacts(run_id=name, artifact_path="outputs", dst_path=str(tmp_path / "mlf"))
    assert (Path(local) / "classes.txt").read_text().split() == ["setosa", "versicolor", "virginica"]
    logged = mlflow.search_logged_models(
        experiment_ids=[view["experiment_id"]], filter_string=f"source_run_id = '{name}'", output_format="list"
    )
    assert len(logged) == 1 and logged[0].name == "model"
    model = mlflow.pyfunc.load_model(f"runs:/{name}/model")
    sample = pd.DataFrame(
        [[5.1, 3.5, 1.4, 0.2]],
        columns=["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
    )
    assert list(model.predict(sample)) == [0]

    # only one run for the job, although autologging ended it after fit()
    runs = mlflow.search_runs(experiment_names=["sklearn-iris"], filter_string=f"attributes.run_id = '{name}'")
    assert len(runs) == 1

    # show, list and download through the CLI
    shown = json.loads(workspace.cli("job", "show", "-n", name, "-o", "json", check=True).stdout)
    assert shown["mlflow_run_url"].endswith(f"/runs/{name}")
    listed = json.loads(workspace.cli("job", "list", "-o", "json", check=True).stdout)
    assert name in [item["name"] for item in listed]
    table = workspace.cli("job", "show", "-n", name, check=True).stdout
    assert "completed" in table and "test_accuracy" in table
    target = tmp_path / "download"
    workspace.cli("job", "download", "-n", name, "--download-path", str(target), check=True)
    assert json.loads((target / "report" / "metrics.json").read_text())["test_accuracy"] == pytest.approx(
        view["metrics"]["test_accuracy"]
    )
    assert (target / "default" / "classes.txt").exists()
    only = tmp_path / "only"
    workspace.cli("job", "download", "-n", name, "--output-name", "report", "--download-path", str(only), check=True)
    assert [p.name for p in only.iterdir()] == ["report"]


def test_sdk_create_wait_metrics_and_inputs(workspace: WorkspaceServer, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "numbers.csv").write_text("1\n2\n3\n")
    (tmp_path / "single.txt").write_text("hello file\n")
    script = """\
        import sys, pathlib, mlflow
        folder, single, factor, out = sys.argv[1:]
        total = sum(int(x) for x in pathlib.Path(folder, "numbers.csv").read_text().split())
        mlflow.log_metric("total", total * float(factor))
        mlflow.log_param("greeting", pathlib.Path(single).read_text().strip())
        pathlib.Path(out).write_text(str(total))
        """
    job_file = write_job(
        tmp_path,
        textwrap.dedent("""\
            type: command
            display_name: sdk inputs
            code: ./src
            command: python main.py ${{inputs.numbers}} ${{inputs.single}} ${{inputs.factor}} ${{outputs.total}}
            inputs:
              numbers: {type: uri_folder, path: ./data}
              single: {type: uri_file, path: ./single.txt}
              factor: 2
            outputs:
              total: {type: uri_file}
            """),
        {"main.py": textwrap.dedent(script)},
    )
    with workspace.client() as client:
        job = client.jobs.create(job_file)
        assert job.status in (JobStatus.QUEUED, JobStatus.PREPARING, JobStatus.RUNNING)
        job.wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert job.metrics == {"total": 12.0}
        assert job.params == {"greeting": "hello file"}
        assert job.view.experiment_name == tmp_path.name
        written = job.download(tmp_path / "dl", output_name="total")
        assert written == [tmp_path / "dl" / "total"]
        assert written[0].read_text() == "6"


def test_outputs_folder_is_there_when_the_command_starts_as_on_azure(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    job_file = write_job(tmp_path, "command: echo made > ./outputs/y.txt\n")
    with workspace.client() as client:
        job = client.jobs.create(job_file)
        job.wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        job.download(tmp_path / "dl", output_name="default")
        assert (tmp_path / "dl" / "default" / "y.txt").read_text() == "made\n"


def test_set_refuses_an_input_the_job_does_not_declare(workspace: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(tmp_path, "command: echo ${{inputs.C}}\ninputs:\n  C: 1.0\n")
    result = workspace.cli("job", "create", "-f", str(job_file), "--set", "inputs.Cx=0.5")
    assert result.returncode != 0
    assert "the job declares no input 'Cx' (inputs it declares: C)" in result.stderr
    assert "Traceback" not in result.stderr
    ok = workspace.cli("job", "create", "-f", str(job_file), "--set", "inputs.C=0.5", "--stream", check=True)
    assert "0.5" in ok.stdout


def test_a_failing_script_fails_with_its_error_tail(workspace: WorkspaceServer, mlflow_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    job_file = write_job(
        tmp_path,
        "command: python boom.py\ncode: ./src\n",
        {"boom.py": "print('about to fail')\nraise ValueError('the data has no rows')\n"},
    )
    result = workspace.cli("job", "create", "-f", str(job_file), "--stream", "-o", "json")
    assert result.returncode == 1
    assert "about to fail" in result.stdout
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "failed"
    assert view["exit_code"] == 1
    assert "ValueError: the data has no rows" in view["failure_reason"]
    assert "exited with code 1" in view["failure_reason"]
    assert mlflow_client.get_run(view["id"]).info.status == "FAILED"


SPAWNER = """\
import os, subprocess, sys, time, pathlib
children = [
    subprocess.Popen(["sleep", "300"]),
    subprocess.Popen(["sleep", "300"], start_new_session=True),  # escapes the process group
    subprocess.Popen([sys.executable, "-c", "import subprocess; subprocess.Popen(['sleep', '300']).wait()"]),
]
print("children started", flush=True)
time.sleep(300)
"""


def _sleeps(processes: list[psutil.Process]) -> list[psutil.Process]:
    found = []
    for process in processes:
        try:
            if process.cmdline() == ["sleep", "300"]:
                found.append(process)
        except psutil.Error:
            pass
    return found


def test_cancel_ends_the_whole_process_tree(workspace: WorkspaceServer, mlflow_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    job_file = write_job(tmp_path, "command: python spawn.py\ncode: ./src\n", {"spawn.py": SPAWNER})
    with workspace.client() as client:
        job = client.jobs.create(job_file)
        processes = wait_for(
            lambda: len(_sleeps(found := job_processes(workspace.home, job.id))) == 3 and found,
            what="the job's children",
        )  # the pids this machine sees (the job's own sandbox has its own)
        pids = [process.pid for process in processes]
        assert all(psutil.pid_exists(p) for p in pids)
        result = workspace.cli("job", "cancel", "-n", job.name, check=True)
        assert "canceled" in result.stdout
        job.refresh()
        assert job.status == JobStatus.CANCELED
        wait_for(
            lambda: not any(_running(p) for p in pids),
            timeout=15,
            what="every process of the job to end",
        )
        with pytest.raises(Conflict):
            client.jobs.cancel(job.name)
    assert mlflow_client.get_run(job.id).info.status == "KILLED"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_timeout_stops_the_job(workspace: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(tmp_path, "command: sleep 120\nlimits:\n  timeout: 2\n")
    with workspace.client() as client:
        job = client.jobs.create(job_file).wait(timeout=60)
    assert job.status == JobStatus.FAILED
    assert "timed out" in (job.view.failure_reason or "")
    assert job.view.duration_seconds is not None and 1.5 < job.view.duration_seconds < 30


def test_a_job_killed_from_outside_fails(workspace: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(
        tmp_path, "command: python sleeper.py\ncode: ./src\n", {"sleeper.py": "import time\ntime.sleep(300)\n"}
    )
    with workspace.client() as client:
        job = client.jobs.create(job_file)
        sleeper = wait_for(
            lambda: next((p for p in job_processes(workspace.home, job.id) if "sleeper.py" in p.cmdline()), None),
            what="the job's process",
        )
        os.kill(sleeper.pid, signal.SIGKILL)
        job.wait(timeout=60)
    assert job.status == JobStatus.FAILED
    assert "SIGKILL" in (job.view.failure_reason or "")


def test_unknown_job_is_not_found_through_every_door(workspace: WorkspaceServer) -> None:
    with workspace.client() as client, pytest.raises(NotFound, match="no-such-job"):
        client.jobs.get("no-such-job")
    result = workspace.cli("job", "show", "-n", "no-such-job")
    assert result.returncode != 0
    assert result.stderr.startswith("error: job 'no-such-job' not found")
    assert "Traceback" not in result.stderr


WAITER = "import pathlib, time\nprint('first line', flush=True)\nwhile not pathlib.Path('go').exists():\n    time.sleep(0.05)\nprint('second line')\n"


def test_logs_stream_live_while_the_job_runs(workspace: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(tmp_path, "command: python waiter.py\ncode: ./src\n", {"waiter.py": WAITER})
    with workspace.client() as client:
        job = client.jobs.create(job_file)
        trigger = job_file_in(workspace.home, job.id, "go")  # what the job sees as ./go
        seen, released = "", False
        for text in client.jobs.logs(job.name, follow=True):
            seen += text
            if "first line" in seen and not released:  # (the working folder goes once the job ends: keep a flag)
                # streamed before the end (the command may print before the server records it running)
                wait_for(lambda: client.jobs.get(job.name).status == JobStatus.RUNNING, what="the job to be running")
                trigger.write_text("go")
                released = True
        assert "second line" in seen
        assert job.wait(timeout=30).status == JobStatus.COMPLETED


def test_job_list_is_newest_first(workspace: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(tmp_path, "command: echo listed\n")
    with workspace.client() as client:
        names = [client.jobs.create(job_file).name for _ in range(3)]
    listed = json.loads(workspace.cli("job", "list", "-o", "json", check=True).stdout)
    assert [item["name"] for item in listed if item["name"] in names] == names[::-1]
    created = [item["created_at"] for item in listed]
    assert created == sorted(created, reverse=True)
    table = workspace.cli("job", "list", check=True).stdout  # the table too: the newest on top (short ids)
    assert sorted(names, key=lambda name: table.index(name[:8])) == names[::-1]


def test_job_list_fits_80_columns_with_short_ids_that_every_command_takes(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    job_file = write_job(
        tmp_path, "command: echo short\nexperiment_name: a-rather-long-experiment-name-for-a-terminal\n"
    )
    with workspace.client() as client:
        job = client.jobs.create(job_file).wait(timeout=120)
        named = client.jobs.create({"command": "echo named", "name": f"named-{job.name[:6]}"}).wait(timeout=120)
    table = workspace.cli("job", "list", env={"COLUMNS": "80"}, check=True).stdout
    assert max(len(line) for line in table.splitlines()) <= 80, table
    assert job.name not in table and job.name[:8] in table  # generated ids shortened, as git does
    assert named.name in table  # names users gave stay whole
    shown = json.loads(workspace.cli("job", "show", "-n", job.name[:8], "-o", "json", check=True).stdout)
    assert shown["name"] == job.name
    too_short = workspace.cli("job", "show", "-n", job.name[:5])
    assert too_short.returncode == NotFound.exit_code and "not found" in too_short.stderr


def test_job_stream_follows_a_running_job_to_its_end(workspace: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(tmp_path, "command: python waiter.py\ncode: ./src\n", {"waiter.py": WAITER})
    with workspace.client() as client:
        job = client.jobs.create(job_file)
        trigger = job_file_in(workspace.home, job.id, "go")  # what the job sees as ./go
        stream = workspace.cli_process("job", "stream", "-n", job.name)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(stream.stdout or []), daemon=True)
        reader.start()
        try:
            wait_for(lambda: "first line" in "".join(lines), timeout=120, what="the first line, streamed")
            wait_for(lambda: client.jobs.get(job.name).status == JobStatus.RUNNING, what="the job to be running")
            assert stream.poll() is None  # still following
            trigger.write_text("go")
            assert stream.wait(60) == 0, stream.stderr.read() if stream.stderr else ""
        finally:
            if stream.poll() is None:
                stream.kill()
        reader.join(10)
    shown = "".join(lines)
    assert shown.index("first line") < shown.index("second line") < shown.index("completed")  # then its result


TELEMETRY_PROBE = "import os\nprint('telemetry off:', os.environ.get('MLFLOW_DISABLE_TELEMETRY', 'unset'))\n"


def test_kiln_turns_mlflow_telemetry_off_for_its_mlflow_server_and_jobs(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    # the tests do not do it for kiln: no MLFLOW_* variable reaches the server from their environment
    assert not [key for key in workspace.env if key.startswith("MLFLOW_")]
    mlflow_pid = json.loads((workspace.home / "mlflow" / "process.json").read_text())["pid"]
    assert psutil.Process(mlflow_pid).environ().get("MLFLOW_DISABLE_TELEMETRY") == "true"
    job_file = write_job(tmp_path, "command: python probe.py\ncode: ./src\n", {"probe.py": TELEMETRY_PROBE})
    with workspace.client() as client:
        job = client.jobs.create(job_file).wait(timeout=120)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert "telemetry off: true" in "".join(client.jobs.logs(job.name))
