"""The README's examples run as written: its quick start's ``--set`` line, its MLflow snippet and its whole
"Online endpoints" section, command by command through the real CLI against a real server of the test's
own (tests/readme_commands.py reads them out of README.md; tests/unit/test_readme.py parses every one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from kiln.specs.views import JobStatus
from tests.conftest import REPO, WorkspaceServer
from tests.readme_commands import README, ReadmeCommand, section_commands

TOUR = "A short tour"


def _run(server: WorkspaceServer, command: ReadmeCommand, **names: str) -> str:
    args = [names.get(arg, arg) for arg in command.as_usage()]
    result = server.cli(*args)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _tour_line(starting: str) -> ReadmeCommand:
    found = [c for c in section_commands(TOUR) if " ".join(c.args).startswith(starting)]
    assert len(found) == 1, starting
    return found[0]


def test_the_quick_start_and_the_online_endpoint_section_run_as_written(make_server: Any) -> None:
    server: WorkspaceServer = make_server()
    # the quick start's --set line submits the iris job; the model section's line registers its model
    submitted = _run(server, _tour_line("job create -f examples/sklearn-iris/job.yml --set"))
    with server.client() as client:
        job = client.jobs.list()[0]
        assert job.name[:8] in submitted
        job = client.jobs.get(job.name).wait(timeout=300)
        assert job.status == JobStatus.COMPLETED, job.view.failure_reason
        assert job.params["logisticregression__C"] == "0.5"
    register = [c for c in section_commands("Models and lineage") if "runs:/JOB/model" in c.args]
    _run(server, register[0], **{"runs:/JOB/model": f"runs:/{job.name}/model"})

    # the MLflow snippet, in a shell, with KILN_HOME as the server's (not ~/.kiln)
    snippet = [line.strip() for line in README.read_text().splitlines() if line.startswith("    export MLFLOW_")]
    script = "\n".join(
        [
            *snippet,
            f"python -c \"import mlflow; print(mlflow.get_run('{job.name}').data.params['logisticregression__C'])\"",
        ]
    )
    env = {**server.env, "KILN_HOME": str(server.home), "PATH": _path_with_kiln()}
    shell = subprocess.run(["bash", "-ec", script], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert shell.returncode == 0 and shell.stdout.strip() == "0.5", shell.stderr

    for command in section_commands("Online endpoints"):
        out = _run(server, command)
        if command.args[:2] == ("online-endpoint", "invoke"):
            assert json.loads(out) == [0, 1, 2], (str(command), out)
    with server.client() as client:
        assert "iris" not in [endpoint.name for endpoint in client.online_endpoints.list()]


def _path_with_kiln() -> str:
    return os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
