"""Pipeline jobs end to end on the shared workspace, with one-line steps: three steps (an inline one, a component
from a file, a registered component) pass data from one to the next; an unchanged second submit reuses every step
and starts no step process; a failing step stops what depends on it; a cancel stops every step; each bad input is
refused at submit (and by --dry-run) with its YAML path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiln.errors import Conflict, InvalidSpec, NotFound
from tests.conftest import WorkspaceServer, wait_for
from tests.integration.pipelines.helpers import score_component, step_jobs, three_steps, train_component, write_yaml

SLEEPER = 'python -c "import time; time.sleep(120)"'


def test_three_steps_pass_data_and_an_unchanged_resubmit_reuses_every_step(
    workspace: WorkspaceServer, tmp_path: Path
) -> None:
    with workspace.client() as client:
        registered = client.components.create(score_component(tmp_path / "score", "t_score"))
        assert (
            registered.version == "1" and client.components.create(score_component(tmp_path, "t_score")).version == "2"
        )
        with pytest.raises(Conflict):
            client.components.create(score_component(tmp_path, "t_score"), version="2")
        path = write_yaml(tmp_path / "pipeline.yml", three_steps(tmp_path, "azureml:t_score:1"))
        first = client.jobs.create(path).wait(timeout=180)
        assert first.status.value == "completed", first.view.failure_reason
        steps = step_jobs(client, first.name)
        assert sorted(steps) == ["prep", "score", "train"]
        assert all(job.status.value == "completed" and "kiln.pipeline.reused_from" not in job.view.tags
                   for job in steps.values())  # fmt: skip
        assert steps["prep"].view.ended_at <= steps["train"].view.started_at  # in dependency order
        assert client.jobs.read_output_file(steps["score"].name, "report", "score.txt") == b"7:21"
        assert client.jobs.read_output_file(first.name, "report", "score.txt") == b"7:21"  # the pipeline's output
        assert steps["train"].view.tags["mlflow.parentRunId"] == first.id  # nested under the pipeline's run

        again = client.jobs.create(path).wait(timeout=60)
        assert again.status.value == "completed", again.view.failure_reason
        reused = step_jobs(client, again.name)
        for name, job in reused.items():  # recorded at once from the first run's steps: no process, no sandbox
            assert job.view.tags["kiln.pipeline.reused_from"] == steps[name].name
            assert job.view.isolation is None and job.view.started_at == job.view.ended_at
        shown = workspace.cli("job", "show", "-n", again.name, check=True, env={"COLUMNS": "300"}).stdout
        assert f"steps of {again.name}" in shown and steps["train"].name in shown and "3 reused" in shown

        changed = client.jobs.create(path, overrides=["inputs.n=8"]).wait(timeout=180)  # a new input: all rerun
        assert changed.status.value == "completed", changed.view.failure_reason
        assert not any("kiln.pipeline.reused_from" in job.view.tags for job in step_jobs(client, changed.name).values())
        assert client.jobs.read_output_file(changed.name, "report", "score.txt") == b"8:24"
        forced = client.jobs.create(path, overrides=["settings.force_rerun=true"]).wait(timeout=180)
        assert not any("kiln.pipeline.reused_from" in job.view.tags for job in step_jobs(client, forced.name).values())
        children = json.loads(workspace.cli("job", "list", "--parent", again.name, "-o", "json", check=True).stdout)
        assert sorted(job["name"] for job in children) == sorted(job.name for job in reused.values())
        listed = json.loads(workspace.cli("component", "list", "-o", "json", check=True).stdout)
        assert {"name": "t_score", "version": "2"}.items() <= next(c for c in listed if c["name"] == "t_score").items()
        assert client.components.get("t_score", "1").code_hash is None
        with pytest.raises(NotFound):
            client.components.get("t_score", "9")


def test_a_failing_step_stops_its_dependents(workspace: WorkspaceServer, tmp_path: Path) -> None:
    spec = {
        "type": "pipeline", "experiment_name": "pipeline-tests",
        "jobs": {
            "broken": {"command": "python -c \"raise SystemExit(3)\"", "outputs": {"out": {"type": "uri_folder"}}},
            "after": {"command": "echo ${{inputs.x}}", "inputs": {"x": "${{parent.jobs.broken.outputs.out}}"}},
            "beside": {"command": "echo independent"},
        },
    }  # fmt: skip
    with workspace.client() as client:
        stopped = client.jobs.create(write_yaml(tmp_path / "a.yml", spec)).wait(timeout=120)
        assert stopped.status.value == "failed" and "step broken failed" in (stopped.view.failure_reason or "")
        assert "after" not in step_jobs(client, stopped.name)
        spec["settings"] = {"continue_on_step_failure": True}
        goes_on = client.jobs.create(write_yaml(tmp_path / "b.yml", spec)).wait(timeout=120)
        steps = step_jobs(client, goes_on.name)
        assert goes_on.status.value == "failed" and "not run: after" in (goes_on.view.failure_reason or "")
        assert steps["beside"].status.value == "completed" and "after" not in steps


def test_cancel_stops_every_step(workspace: WorkspaceServer, tmp_path: Path) -> None:
    spec = {"type": "pipeline", "jobs": {"one": {"command": SLEEPER}, "two": {"command": SLEEPER},
                                         "three": {"command": "echo ${{inputs.x}}",
                                                   "inputs": {"x": "${{parent.jobs.one.outputs.o}}"}}}}  # fmt: skip
    spec["jobs"]["one"]["outputs"] = {"o": {"type": "uri_folder"}}
    with workspace.client() as client:
        pipeline = client.jobs.create(write_yaml(tmp_path / "p.yml", spec))
        wait_for(lambda: all(job.status.value == "running" for job in step_jobs(client, pipeline.name).values())
                 and len(step_jobs(client, pipeline.name)) == 2, timeout=120, what="both steps to run")  # fmt: skip
        client.jobs.cancel(pipeline.name)
        assert pipeline.wait(timeout=60).status.value == "canceled"
        ended = wait_for(lambda: all(j.status.is_terminal for j in step_jobs(client, pipeline.name).values()),
                         timeout=60, what="the steps to stop")  # fmt: skip
        assert ended and {j.status.value for j in step_jobs(client, pipeline.name).values()} == {"canceled"}


def _bad(tmp_path: Path, **change: object) -> dict[str, object]:
    spec = three_steps(tmp_path, "azureml:t_never_registered:1")
    spec["jobs"]["score"]["component"] = "file:./train.yml"  # type: ignore[index]
    spec["jobs"]["score"]["inputs"] = {"data": "${{parent.jobs.prep.outputs.data}}"}  # type: ignore[index]
    spec["jobs"]["score"]["outputs"] = {}  # type: ignore[index]
    for key, value in change.items():
        step, _, field = key.partition("__")
        spec["jobs"][step][field] = value  # type: ignore[index]
    return spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train__inputs": {"data": "${{parent.jobs.nope.outputs.data}}"}},
         "jobs.train.inputs.data: 'nope' is no step"),
        ({"train__inputs": {"data": "${{parent.jobs.prep.outputs.nothing}}"}},
         "jobs.train.inputs.data: 'nothing' is no output of step 'prep'"),
        ({"prep__inputs": {"n": "${{parent.inputs.n}}", "m": "${{parent.jobs.train.outputs.model}}"}},
         "cycle: prep → train → prep"),
        ({"score__component": "azureml:t_never_registered:1"},
         "jobs.score.component: component 't_never_registered:1' not found"),
        ({"train__inputs": {"data": "just text"}}, "jobs.train.inputs.data: a uri_folder input takes a path"),
        ({"train__inputs": {"data": "${{parent.jobs.prep.outputs.data}}", "factor": "abc"}},
         "jobs.train.inputs.factor: an integer input takes a whole number, not 'abc'"),
        ({"score__inputs": {}}, "jobs.score.inputs.data: component 't_train' needs input 'data'"),
        ({"train__inputs": {"data": "${{parent.jobs.prep.outputs.data}}", "typo": 1}},
         "jobs.train.inputs.typo: component 't_train' has no input 'typo'"),
    ],
    ids=["unknown-step", "unknown-output", "cycle", "unknown-component", "literal-for-a-path", "not-an-integer",
         "missing-input", "unknown-input"],
)  # fmt: skip
def test_bad_pipelines_are_refused_at_submit_naming_the_yaml_path(
    workspace: WorkspaceServer, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = write_yaml(tmp_path / "bad.yml", _bad(tmp_path, **change))
    with workspace.client() as client, pytest.raises(InvalidSpec if "not found" not in message else NotFound) as caught:
        client.jobs.create(path)
    assert message in caught.value.message
    dry = workspace.cli("job", "create", "-f", str(path), "--dry-run")
    assert dry.returncode != 0 and message in dry.stderr.replace("\n", " ") and "Traceback" not in dry.stderr


def test_default_datastore_is_accepted_and_said_to_be_ignored(workspace: WorkspaceServer, tmp_path: Path) -> None:
    spec = _bad(tmp_path)
    spec["settings"] = {"default_datastore": "azureml:workspaceblobstore"}
    with workspace.client() as client:
        plan = client.jobs.create(write_yaml(tmp_path / "p.yml", spec), dry_run=True)
    assert plan.type == "pipeline" and "settings.default_datastore is ignored" in plan.command


def test_a_component_file_with_a_mistake_names_its_file(workspace: WorkspaceServer, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "p.yml", _bad(tmp_path))
    component = train_component(tmp_path)
    component.write_text(component.read_text().replace("type: integer", "type: integr"))
    with workspace.client() as client, pytest.raises(InvalidSpec) as caught:
        client.jobs.create(path)
    assert "train.yml" in caught.value.message and "inputs.factor.type" in caught.value.message
