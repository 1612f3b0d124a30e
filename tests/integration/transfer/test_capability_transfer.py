"""The capabilities' resources move with a workspace (``kiln.transfer.parts``): a command component version with its
code, a batch endpoint with a scripted deployment (its model and code folders) as its default, and schedules. An
imported schedule keeps its enabled state but never catches up: the target's clock is years later than the source's,
and its next run is the target's next minute, not the runs it missed. Importing again finds everything there; a
schedule of the same name with another trigger is a conflict."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import WorkspaceServer, server_env
from tests.lanes import server_fixture

TARGET_CLOCK = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)  # the target's schedules run years after the source's


@server_fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    home = tmp_path_factory.mktemp("kiln-parts-source")
    started = WorkspaceServer(home, server_env(home)).start()
    yield started
    started.stop()


@server_fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    home = tmp_path_factory.mktemp("kiln-parts-target")
    clock = home / "schedules-clock"
    clock.write_text(TARGET_CLOCK.isoformat())
    started = WorkspaceServer(home, server_env(home, schedules_clock_file=str(clock))).start()
    yield started
    started.stop()


def files(folder: Path) -> Path:
    """A component, a job, a batch deployment's model and scoring script, each with its folder, under ``folder``."""
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "train.py").write_text("print('trained')\n")
    (folder / "component.yml").write_text(
        "name: train\ntype: command\ncode: ./src\ncommand: python train.py\ninputs:\n  lr: {type: number, default: 0.1}\n"
    )
    (folder / "job.yml").write_text("command: python train.py\ncode: ./src\nexperiment_name: nightly\n")
    (folder / "model").mkdir()
    (folder / "model" / "weights.txt").write_text("2\n")
    (folder / "score").mkdir()
    (folder / "score" / "score.py").write_text(
        textwrap.dedent(
            """
            def init():
                pass

            def run(mini_batch):
                return [{"file": str(path)} for path in mini_batch]
            """
        )
    )
    return folder


def test_components_batch_endpoints_and_schedules_move_with_the_workspace(
    source: WorkspaceServer, target: WorkspaceServer, tmp_path: Path
) -> None:
    folder = files(tmp_path / "files")
    with source.client() as client:
        client.components.create(folder / "component.yml")
        client.batch_endpoints.create({"name": "nightly-scores", "description": "scores every night"})
        client.batch_deployments.create(
            {
                "name": "scripted", "endpoint_name": "nightly-scores",
                "model": {"path": str(folder / "model"), "type": "custom_model"},
                "code_configuration": {"code": str(folder / "score"), "scoring_script": "score.py"},
                "mini_batch_size": 2,
            }
        )  # fmt: skip
        every_minute = {"type": "cron", "expression": "* * * * *"}
        client.schedules.create({"name": "on", "trigger": every_minute, "create_job": str(folder / "job.yml")})
        client.schedules.create({"name": "off", "trigger": every_minute, "create_job": str(folder / "job.yml")})
        client.schedules.disable("off")
        code = client.components.get("train").spec["code"]
    archive = tmp_path / "workspace.tar.gz"
    exported = source.cli("workspace", "export", "--to", str(archive), check=True)
    said = exported.stdout + exported.stderr
    assert "1 component versions" in said and "1 batch endpoints" in said and "2 schedules" in said, said

    imported = target.cli("workspace", "import", str(archive), check=True)
    assert "component versions: 1 imported" in imported.stdout, imported.stdout
    assert "batch endpoints: 1 imported" in imported.stdout and "schedules: 2 imported" in imported.stdout
    assert "the runs they missed are not run" in imported.stderr, imported.stderr
    with target.client() as client:
        component = client.components.get("train", "1")
        assert component.spec["code"] == code and component.spec["inputs"]["lr"]["default"] == 0.1
        endpoint = client.batch_endpoints.get("nightly-scores")
        assert (endpoint.description, endpoint.default_deployment) == ("scores every night", "scripted")
        deployment = client.batch_deployments.get("scripted", "nightly-scores")
        assert deployment.model_type == "custom_model" and deployment.scoring_script == "score.py"
        on, off = client.schedules.get("on"), client.schedules.get("off")
        assert on.enabled and on.next_run_at == TARGET_CLOCK + timedelta(minutes=1), on  # no run missed is run
        assert not off.enabled and off.next_run_at is None
        found, _ = client.jobs.search(tags={"kiln.schedule": "on"}, limit=10)
        assert found == []
    # the folders they name came along: the component's and the job's code, the deployment's model and script
    uploads = [
        code,
        on.create_job["code"],
        deployment.spec["model"]["path"],
        deployment.spec["code_configuration"]["code"],
    ]
    for upload in uploads:
        digest = upload.removeprefix("upload:").split("/")[0]
        assert (target.home / "artifacts" / "snapshots" / digest).is_dir(), upload
    again = target.cli("workspace", "import", str(archive), check=True)
    assert "schedules: 0 imported, 2 already there" in again.stdout, again.stdout
    assert "component versions: 0 imported, 1 already there" in again.stdout

    with target.client() as client:
        client.schedules.delete("off")
        client.schedules.create({"name": "off", "trigger": {"type": "cron", "expression": "0 3 * * *"},
                                 "create_job": str(folder / "job.yml")})  # fmt: skip
    refused = target.cli("workspace", "import", str(archive))
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "schedule off: the target's schedule of that name has another trigger or job" in refused.stderr
