"""``kiln job create --wait`` (exit codes by the job's end, status changes on stderr, ``-o json``) and ``--dry-run``
(every check of a submit, nothing submitted, uploaded or recorded), through the CLI and the SDK, against the shared
workspace server."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from kiln.errors import AlreadyExists, NotFound
from kiln.specs.pins import DataPin
from kiln.specs.views import JobPlanView, JobStatus
from tests.conftest import WorkspaceServer, wait_for, write_job

SCRIPT = {"train.py": "import sys\nprint('training with C =', sys.argv[1])\n"}


def _snapshots(workspace: WorkspaceServer) -> set[str]:
    folder = workspace.home / "artifacts" / "snapshots"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def test_wait_exits_0_for_a_completed_job_and_prints_its_view_as_json(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    job_file = write_job(tmp_path, "command: python train.py ${{inputs.C}}\ncode: ./src\ninputs:\n  C: 0.5\n", SCRIPT)
    result = workspace.cli("job", "create", "-f", str(job_file), "--wait", "-o", "json")
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)  # the result alone on stdout: the progress went to stderr
    assert view["status"] == "completed" and view["inputs"] == {"C": 0.5} and view["exit_code"] == 0
    # each status as --wait first saw it: the first depends on how quick the engine was (queued, or already further)
    seen = re.findall(rf"^job {view['name']}: (\w+) \(", result.stderr, flags=re.MULTILINE)
    assert seen and seen[0] in ("queued", "preparing", "running") and seen[-1] == "completed", result.stderr
    assert len(seen) == len(set(seen)), result.stderr  # a status is printed once, when it changes
    assert "training with C = 0.5" not in result.stdout  # --wait does not stream the log


def test_wait_exits_1_for_a_failed_job_and_9_for_a_canceled_one(workspace: WorkspaceServer, tmp_path: Path) -> None:
    failing = write_job(tmp_path / "failing", "command: python -c 'raise SystemExit(3)'\n")
    failed = workspace.cli("job", "create", "-f", str(failing), "--wait", "-o", "json")
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["status"] == "failed"

    name = f"wait-cancel-{uuid.uuid4().hex[:6]}"
    sleeping = write_job(tmp_path / "sleeping", f"name: {name}\ncommand: sleep 300\n")
    waiting = workspace.cli_process("job", "create", "-f", str(sleeping), "--wait")
    try:
        with workspace.client() as client:
            wait_for(lambda: _exists(client, name), timeout=60, what="the job, submitted")
            client.jobs.cancel(name)
        assert waiting.wait(120) == 9
        assert waiting.stderr is not None and f"job {name}: canceled" in waiting.stderr.read()
    finally:
        if waiting.poll() is None:
            waiting.kill()


def _exists(client, name: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        client.jobs.get(name)
    except NotFound:
        return False
    return True


def test_wait_refuses_to_be_combined_with_stream_or_dry_run(workspace: WorkspaceServer, tmp_path: Path) -> None:
    job_file = write_job(tmp_path, "command: echo hi\n")
    for extra in (("--wait", "--stream"), ("--wait", "--dry-run"), ("--stream", "--dry-run")):
        refused = workspace.cli("job", "create", "-f", str(job_file), *extra)
        assert refused.returncode == 2
        assert refused.stderr == "error: give at most one of --stream, --wait and --dry-run\n"


def test_a_dry_run_checks_and_pins_everything_and_submits_uploads_and_records_nothing(
    workspace: WorkspaceServer,
    mlflow_client,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    data_folder = tmp_path / "rows"
    data_folder.mkdir()
    (data_folder / "rows.csv").write_text("a,b\n1,2\n")
    asset = f"dry-rows-{uuid.uuid4().hex[:6]}"
    name, experiment = f"dry-{uuid.uuid4().hex[:6]}", f"dry-experiment-{uuid.uuid4().hex[:6]}"
    job_file = write_job(
        tmp_path / "job",
        f"name: {name}\nexperiment_name: {experiment}\ncommand: python train.py ${{{{inputs.C}}}} ${{{{inputs.rows}}}}\n"
        f"code: ./src\ninputs:\n  C: 0.5\n  rows:\n    type: uri_folder\n    path: kiln:{asset}@latest\n",
        SCRIPT,
    )
    with workspace.client() as client:
        client.data.create({"name": asset, "version": "3", "type": "uri_folder", "path": str(data_folder)})
        snapshots = _snapshots(workspace)
        jobs = {job.name for job in client.jobs.list(limit=1000)}

        result = workspace.cli("job", "create", "-f", str(job_file), "--dry-run", "-o", "json")
        assert result.returncode == 0, result.stderr
        plan = JobPlanView.model_validate_json(result.stdout)
        assert (plan.name, plan.experiment_name, plan.compute, plan.type) == (name, experiment, "local", "command")
        pinned = plan.pinned_inputs["rows"]
        assert isinstance(pinned, DataPin) and (pinned.name, pinned.version) == (asset, "3")  # @latest, pinned
        assert plan.pending_uploads == {"code": "./src"} and plan.code_hash is None
        assert plan.environment.kind == "server-interpreter"  # no environment: the server's own Python
        table = workspace.cli("job", "create", "-f", str(job_file), "--dry-run")
        assert table.returncode == 0 and "nothing was submitted" in table.stdout and f"{asset}:3" in table.stdout

        sdk_plan = client.jobs.create(job_file, dry_run=True)
        assert sdk_plan == plan
        # nothing was made: no job row, no MLflow run or experiment, no code snapshot
        assert {job.name for job in client.jobs.list(limit=1000)} == jobs
        with pytest.raises(NotFound):
            client.jobs.get(name)
        assert mlflow_client.get_experiment_by_name(experiment) is None
        assert _snapshots(workspace) == snapshots

        submitted = client.jobs.create(job_file)  # the plan was right: the same job goes through
        assert submitted.name == name and submitted.view.pinned_inputs["rows"] == pinned
        with pytest.raises(AlreadyExists, match=f"a job named '{name}' already exists"):
            client.jobs.create(job_file, dry_run=True)  # as a second submit would be refused
        assert submitted.wait(timeout=240).status == JobStatus.COMPLETED


def test_a_dry_run_fails_with_the_errors_and_exit_codes_of_a_real_submit(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    cases = {
        "missing-code": "command: python train.py\ncode: ./nowhere\n",
        "unknown-input": "command: cat ${{inputs.rows}}\ninputs:\n  rows:\n    type: uri_file\n    path: kiln:no-such-asset:1\n",
        "gpus-the-compute-lacks": "command: echo hi\nresources:\n  gpu_count: 2\n",
        "bad-reference": "command: echo ${{inputs.nothing}}\n",
        "bad-field": "command: echo hi\nlimits:\n  timeout: 0\n",
        "unknown-environment": "command: echo hi\nenvironment: azureml:no-such-env:1\n",
    }
    for case, text in cases.items():
        job_file = write_job(tmp_path / case, text)
        dry = workspace.cli("job", "create", "-f", str(job_file), "--dry-run")
        real = workspace.cli("job", "create", "-f", str(job_file))
        assert dry.returncode == real.returncode == 2, (case, dry.stderr, real.stderr)
        assert dry.stderr == real.stderr and dry.stderr.startswith("error: "), case
        assert "Traceback" not in dry.stderr


def test_a_dry_run_refuses_a_rerun(workspace: WorkspaceServer) -> None:
    refused = workspace.cli("job", "create", "--rerun", "whatever", "--dry-run")
    assert refused.returncode == 2
    assert (
        "--dry-run checks a job's YAML (--file); a rerun repeats a job the workspace already checked" in refused.stderr
    )
