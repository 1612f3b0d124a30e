"""Every bad submission gets a clear error, through CLI and REST, and leaves nothing behind."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from mlflow.entities import ViewType

from kiln.errors import AlreadyExists, Unauthorized
from tests.conftest import WorkspaceServer, write_job

pytestmark = pytest.mark.smoke  # the fast lane runs these too (docs/testing.md)


def _recorded(workspace: WorkspaceServer, mlflow_client) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with workspace.client() as client:
        jobs = len(client.jobs.list(limit=10_000))
    experiments = [e.experiment_id for e in mlflow_client.search_experiments(view_type=ViewType.ALL)]
    runs = len(mlflow_client.search_runs(experiments, run_view_type=ViewType.ALL, max_results=50_000))
    return jobs, runs


CASES = {
    "malformed": (
        "type: command\ncommand: [python\ncode: ./src\n",
        ["malformed YAML", "line 3", "flow sequence that starts at line 2"],
    ),
    "unknown-field": ("type: command\ncommand: echo hi\ncomputee: local\n", ["unknown field 'computee'", "line 3"]),
    "missing-code": ("command: echo hi\ncode: ./not-there\n", ["code", "'./not-there' not found", "line 2"]),
    "undefined-input": (
        "command: echo ${{inputs.epochs}}\ninputs:\n  lr: 0.1\n",
        ["'${{inputs.epochs}}' refers to input 'epochs'", "defined: lr", "line 1"],
    ),
    "missing-input-file": (
        "command: cat ${{inputs.data}}\ninputs:\n  data: {type: uri_file, path: ./nope.csv}\n",
        ["inputs.data.path", "nope.csv", "line 3"],
    ),
    "unknown-compute": (  # azureml:gpu-cluster runs on local here (an embedded workspace): tests/integration/azure
        "command: echo hi\ncompute: kiln:gpu-cluster\n",
        ["compute", "gpu-cluster", "available: local", "kiln compute create --name gpu-cluster --type local"],
    ),
    "not-a-mapping": ("- just\n- a list\n", ["expected a mapping"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_job_files_are_refused_with_a_clear_error(
    case: str, workspace: WorkspaceServer, mlflow_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    text, expected = CASES[case]
    job_file = write_job(tmp_path, text, {"main.py": "print('hi')\n"})
    before = _recorded(workspace, mlflow_client)
    result = workspace.cli("job", "create", "-f", str(job_file))
    assert result.returncode != 0
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in expected:
        assert fragment in result.stderr
    assert _recorded(workspace, mlflow_client) == before


def test_missing_job_file(workspace: WorkspaceServer, tmp_path: Path) -> None:
    result = workspace.cli("job", "create", "-f", str(tmp_path / "nope.yml"))
    assert result.returncode != 0 and "no such file" in result.stderr and "Traceback" not in result.stderr


def test_a_taken_name_is_refused_and_nothing_is_recorded(
    workspace: WorkspaceServer, mlflow_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    job_file = write_job(tmp_path, "name: unique-name-1\ncommand: echo first\n")
    with workspace.client() as client:
        client.jobs.create(job_file).wait(timeout=60)
        before = _recorded(workspace, mlflow_client)
        with pytest.raises(AlreadyExists, match="unique-name-1"):
            client.jobs.create(job_file)
    assert _recorded(workspace, mlflow_client) == before


def test_rest_bodies_are_checked_too(workspace: WorkspaceServer, mlflow_client) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {workspace.token}"}
    before = _recorded(workspace, mlflow_client)
    bad_bodies = {
        "unknown field 'comand'": {"comand": "echo"},
        "'./src' is not an uploaded path": {"command": "echo", "code": "./src"},
        "upload 'upload:" + "0" * 64 + "' was not found": {"command": "echo", "code": "upload:" + "0" * 64},
        "refers to output 'model'": {"command": "echo ${{outputs.model}}"},
    }
    for expected, body in bad_bodies.items():
        response = httpx.post(f"{workspace.url}/api/v1/jobs", json=body, headers=headers)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["type"] == "InvalidSpec" and expected in error["message"]
    response = httpx.post(
        f"{workspace.url}/api/v1/jobs", content=b"{not json", headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"]["type"] == "InvalidSpec"
    assert _recorded(workspace, mlflow_client) == before


def test_requests_without_the_right_token_are_refused(workspace: WorkspaceServer, tmp_path: Path) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {workspace.token}"}):
        for path in ("/api/v1/jobs", "/mlflow/api/2.0/mlflow/experiments/search?max_results=5", "/mlflow/"):
            response = httpx.get(f"{workspace.url}{path}", headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.json()["error"]["type"] == "Unauthorized"
            assert workspace.token not in response.text
    with workspace.client(token="wrong") as client, pytest.raises(Unauthorized, match="not valid"):
        client.jobs.list()
    env_result = _cli_with_token(workspace, "not-the-token")
    assert env_result.returncode != 0 and env_result.stderr.startswith("error: the token sent is not valid")


def _cli_with_token(workspace: WorkspaceServer, token: str):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    env = {**workspace.env, "KILN_URL": workspace.url, "KILN_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "kiln", "job", "list"], capture_output=True, text=True, env=env, timeout=60
    )


def test_token_file_is_private(workspace: WorkspaceServer) -> None:
    mode = stat.S_IMODE((workspace.home / "token").stat().st_mode)
    assert mode == 0o600


def test_a_browser_signs_in_once_and_keeps_a_session(workspace: WorkspaceServer) -> None:
    with httpx.Client(base_url=workspace.url, headers={"accept": "text/html"}) as browser:
        first = browser.get("/mlflow/")
        assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
        page = browser.get(first.headers["location"])
        assert page.status_code == 200 and 'name="token"' in page.text
        refused = browser.post("/login", data={"token": "guess", "next": "/mlflow/"})
        assert refused.status_code == 401
        signed_in = browser.post("/login", data={"token": workspace.token, "next": "https://elsewhere.example/"})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/jobs"  # no open redirect
        assert "kiln_session" in browser.cookies
        ui = browser.get("/mlflow/")
        assert ui.status_code == 200 and "<html" in ui.text.lower()
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', ui.text)
        assert scripts, "MLflow's UI page names its scripts"
        asset = browser.get(urljoin("/mlflow/", scripts[0]))
        assert asset.status_code == 200 and len(asset.content) > 1000  # the UI's code comes through the proxy
        api = browser.get("/api/v1/jobs")
        assert api.status_code == 200
    assert httpx.get(f"{workspace.url}/docs").status_code == 200  # the API's documentation is public


def test_an_experiment_name_mlflow_refuses_is_a_422_naming_the_field(workspace: WorkspaceServer) -> None:
    answer = httpx.post(  # raw: the answer's status is what is checked
        f"{workspace.url}/api/v1/jobs", json={"command": "echo hi", "experiment_name": "e" * 10_000}, timeout=60,
        headers={"Authorization": f"Bearer {workspace.token}"},
    )  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert "experiment_name" in answer.json()["error"]["message"], answer.text  # at the door, or MLflow's refusal
