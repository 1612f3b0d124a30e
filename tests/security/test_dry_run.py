"""Probes of a job's dry run (``jobs.validate``, ``kiln job create --dry-run``): refused to whoever may not submit,
as a submit is; it reads nothing a submit may not read (a private data version: owners only); and it leaves nothing
behind: no job row, no MLflow experiment or run, no stored code, no privacy charge."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from kiln import api
from kiln.errors import Conflict, Forbidden, InvalidSpec
from tests.conftest import WorkspaceServer, write_job
from tests.security.conftest import Team

METADATA = {"max_ids": 1, "pid": {"type": "int", "private_id": True}, "age": {"type": "int", "lower": 0, "upper": 99}}


def _snapshots(server: WorkspaceServer) -> set[str]:
    folder = server.home / "artifacts" / "snapshots"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def _experiment_exists(http: httpx.Client, name: str) -> bool:
    answer = http.get("/mlflow/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name})
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


def test_a_readers_dry_run_is_refused_as_a_readers_submit_is(
    security_server: WorkspaceServer, team: Team, tmp_path: Path
) -> None:
    body = {"command": "cat $KILN_HOME/token", "experiment_name": "attack"}
    with team.reader.http(security_server) as http:
        submit = http.post(api.jobs.CREATE.path, json=body)
        dry = http.post(api.jobs.VALIDATE.path, json=body)
    assert submit.status_code == dry.status_code == 403
    assert dry.json()["error"]["message"] == (
        f"user '{team.reader.name}' is a reader; validating jobs needs contributor or owner"
    )
    job_file = write_job(tmp_path, "command: echo hi\n")
    cli = security_server.cli("job", "create", "-f", str(job_file), "--dry-run", env={"KILN_TOKEN": team.reader.token})
    assert cli.returncode == 5 and cli.stderr.startswith("error: user ") and "Traceback" not in cli.stderr


def test_a_dry_run_leaves_no_job_no_mlflow_run_and_no_stored_code(
    security_server: WorkspaceServer, team: Team, tmp_path: Path
) -> None:
    name, experiment = f"dry-{uuid.uuid4().hex[:6]}", f"dry-probe-{uuid.uuid4().hex[:6]}"
    job_file = write_job(
        tmp_path,
        f"name: {name}\nexperiment_name: {experiment}\ncommand: python probe.py\ncode: ./src\n",
        {"probe.py": "print(open('/etc/hostname').read())\n"},
    )
    snapshots = _snapshots(security_server)
    with team.contributor.client(security_server) as contributor, team.owner.http(security_server) as http:
        jobs = {job.name for job in contributor.jobs.list(limit=1000)}
        cli = security_server.cli(
            "job", "create", "-f", str(job_file), "--dry-run", env={"KILN_TOKEN": team.contributor.token}
        )
        assert cli.returncode == 0, cli.stderr
        plan = contributor.jobs.create(job_file, dry_run=True)
        assert plan.name == name and plan.pending_uploads == {"code": "./src"}
        # a code reference that leads out of the uploads is refused as a submit refuses it
        for reference in ("upload:0/../../token", "upload:../token"):
            with pytest.raises(InvalidSpec, match="code"):
                contributor.jobs.create(
                    {"command": "ls", "code": reference, "experiment_name": experiment}, dry_run=True
                )
        assert {job.name for job in contributor.jobs.list(limit=1000)} == jobs
        assert http.get(api.jobs.SHOW.path.format(name=name)).status_code == 404
        assert not _experiment_exists(http, experiment)  # no experiment, so no run in it
    assert _snapshots(security_server) == snapshots


@pytest.fixture(scope="module")
def private(security_server: WorkspaceServer, team: Team, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("private-dry-run")
    (folder / "ages.csv").write_text("pid,age\n1,73\n2,41\n3,29\n")
    name = f"dry_ages_{uuid.uuid4().hex[:6]}"
    spec = {
        "name": name, "version": "1", "type": "uri_file", "path": str(folder / "ages.csv"),
        "privacy": {"epsilon": 1.0, "delta": 1e-6, "metadata": METADATA},
    }  # fmt: skip
    with team.owner.client(security_server) as owner:
        owner.data.create(spec)
    return name


def test_a_dry_run_of_private_data_is_for_owners_and_checks_the_budget_without_charging_it(
    security_server: WorkspaceServer, team: Team, private: str
) -> None:
    def spec(epsilon: float) -> dict[str, object]:
        return {
            "command": "cat ${{inputs.rows}}",
            "inputs": {"rows": {"type": "uri_file", "path": f"kiln:{private}:1"}},
            "privacy": {"epsilon": epsilon, "delta": 0.0},
        }

    with team.contributor.client(security_server) as contributor, pytest.raises(Forbidden, match="private data"):
        contributor.jobs.create(spec(0.1), dry_run=True)
    with team.owner.client(security_server) as owner:
        before = owner.privacy.budget(private, "1")
        plan = owner.jobs.create(spec(0.6), dry_run=True)
        assert plan.privacy == {"epsilon": 0.6, "delta": 0.0}
        owner.jobs.create(spec(0.6), dry_run=True)  # twice what is left, were either charged
        after = owner.privacy.budget(private, "1")
        assert (after.spent_epsilon, after.charges) == (before.spent_epsilon, before.charges) == (0.0, [])
        with pytest.raises(InvalidSpec, match="more than .* whole budget"):
            owner.jobs.create(spec(2.0), dry_run=True)
        owner.jobs.create({**spec(0.9), "command": "true"}).wait(timeout=240)  # spends 0.9 of 1.0
        with pytest.raises(Conflict, match="the privacy budget left is epsilon 0.1") as dry:
            owner.jobs.create(spec(0.6), dry_run=True)
        with pytest.raises(Conflict) as real:
            owner.jobs.create(spec(0.6))
        assert dry.value.message == real.value.message
        assert len(owner.privacy.budget(private, "1").charges) == 1
