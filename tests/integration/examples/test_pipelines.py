"""The pipelines example end to end through the CLI: the registered component, the three-step pipeline with its
live steps table (iris from scikit-learn, nothing downloaded), its report, and an unchanged resubmit whose every
step is reused."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO, WorkspaceServer

EXAMPLE = REPO / "examples" / "pipelines"


def test_the_pipeline_example_runs_then_reuses_every_step(workspace: WorkspaceServer) -> None:
    created = workspace.cli("component", "create", "-f", str(EXAMPLE / "components" / "score.yml"), "-o", "json")
    assert created.returncode == 0 or "exists already" in created.stderr, created.stderr
    wide = {"COLUMNS": "200"}
    shown = workspace.cli("component", "show", "-n", "iris_score", check=True, env=wide).stdout
    assert "python score.py" in shown and "data (uri_folder)" in shown and "code hash" in shown
    result = workspace.cli("job", "create", "-f", str(EXAMPLE / "pipeline.yml"), "--stream", check=True, env=wide)
    assert "steps of" in result.stdout and "pipeline completed" in result.stdout
    pipeline = re.search(r"job (\S+) submitted", result.stderr)
    assert pipeline is not None, result.stderr
    with workspace.client() as client:
        report = json.loads(client.jobs.read_output_file(pipeline.group(1), "report", "report.json"))
        assert report["test_accuracy"] > 0.8 and report["rows"] == 45
    again = workspace.cli("job", "create", "-f", str(EXAMPLE / "pipeline.yml"), "--stream", check=True, env=wide)
    assert "3 steps started, 3 ended, 3 reused; pipeline completed" in again.stdout
