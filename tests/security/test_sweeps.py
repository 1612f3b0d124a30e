"""Probes of sweep jobs: who may submit and cancel one (a reader may not; nobody without a token), and what a
trial is: a command job of the sweep's submitter, run by the same engine in the same sandbox as any command job
(its creator is the submitter, never the server; its isolation is a command job's), that cannot read private data
versions (refused at submit), and that the sweep's cancel stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiln.errors import Forbidden
from tests.conftest import WorkspaceServer, wait_for
from tests.security.conftest import Seeded, Team, bearer_http

SLOW_TRIAL = "import time, mlflow\nmlflow.log_metric('loss', 1.0)\ntime.sleep(120)\n"


def _sweep(folder: Path, script: str, **fields: Any) -> dict[str, Any]:
    code = folder / "sweep-code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "trial.py").write_text(script)
    return {
        "type": "sweep", "experiment_name": "attack-suite",
        "trial": {"code": str(code), "command": "python trial.py ${{search_space.x}}"},
        "search_space": {"x": {"type": "choice", "values": [1, 2]}}, "sampling_algorithm": "grid",
        "objective": {"goal": "minimize", "primary_metric": "loss"}, **fields,
    }  # fmt: skip


def test_a_reader_cannot_submit_a_sweep_and_nobody_without_a_token(
    security_server: WorkspaceServer, team: Team, tmp_path: Path
) -> None:
    spec = _sweep(tmp_path, SLOW_TRIAL)
    with team.reader.client(security_server) as reader, pytest.raises(Forbidden):
        reader.jobs.create(spec)
    for token in (None, team.expired.token, team.revoked.token):
        with bearer_http(security_server, token) as anonymous:
            assert anonymous.post("/api/v1/jobs", json={**spec, "trial": {"command": "true"}}).status_code == 401


def test_trials_are_the_submitters_command_jobs_and_only_the_team_may_cancel_the_sweep(
    security_server: WorkspaceServer, team: Team, seeded: Seeded, tmp_path: Path
) -> None:
    with team.contributor.client(security_server) as contributor, team.reader.client(security_server) as reader:
        sweep = contributor.jobs.create(_sweep(tmp_path, SLOW_TRIAL))
        trials = wait_for(
            lambda: [t for t in contributor.jobs.search(tags={"kiln.parent": sweep.name})[0] if t.view.started_at],
            timeout=180, what="a trial to start",
        )  # fmt: skip
        trial, command_job = trials[0].view, contributor.jobs.get(seeded.job).view
        assert trial.type == "command" and trial.created_by == team.contributor.name
        assert trial.isolation == command_job.isolation  # the same sandbox as any command job
        with pytest.raises(Forbidden):
            reader.jobs.cancel(sweep.name)
        contributor.jobs.cancel(sweep.name)
        assert sweep.wait(timeout=120).status.value == "canceled"
        ended = wait_for(
            lambda: all(t.status.is_terminal for t in contributor.jobs.search(tags={"kiln.parent": sweep.name})[0]),
            timeout=120, what="the trials to stop",
        )  # fmt: skip
        assert ended
        statuses = {t.status.value for t in contributor.jobs.search(tags={"kiln.parent": sweep.name})[0]}
        assert statuses == {"canceled"}
