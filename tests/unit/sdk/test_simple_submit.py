"""A simple job file is sent as it was written (``kiln.sdk.simple_submit``): the server reads the same job from it as
from the body the client's full check builds; anything else goes the full way; a refusal is the error the client's
full check finds first (the same words and line as when it checked before sending), else the server's own; and the
answer, kept as JSON, is what the view writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kiln import api
from kiln.api.paths import JOBS, UPLOADS
from kiln.errors import AlreadyExists, InvalidSpec, KilnError, Unavailable
from kiln.sdk import uploads
from kiln.sdk.jobs import JobOperations, check_submission
from kiln.sdk.simple_submit import simple_fields
from kiln.specs.job_kinds import parse_job_spec
from kiln.specs.pins import ServerInterpreterPin
from kiln.specs.views import JobView
from kiln.specs.yaml_source import YamlSource, read_yaml_file

REFERENCE = "upload:" + "c" * 64

SIMPLE = [
    "command: python train.py\ncode: ./src\n",
    "type: command\ncommand: echo hi\nexperiment_name: exp\nname: named-1\ndisplay_name: shown\n",
    "command: echo hi\ntags: {team: a, stage: b}\nenvironment_variables: {A: '1'}\ndescription: d\ncompute: local\n",
    "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\ncommand: echo\nenvironment: kiln:e@1\n",
    f"command: echo\ncode: {REFERENCE}\n",
]
NOT_SIMPLE = [
    "- a list\n",
    "command: echo\ninputs: {x: 1}\n",
    "command: echo\nlimits: {timeout: 60}\n",
    "command: echo\nenvironment: {image: python}\n",  # an inline environment: its files go with it
    "type: sweep\ncommand: echo\n",
    "code: ./src\n",  # no command: the full check names what is missing
    "command: 3\n",
    "command: echo\nname: 2026-01-01\n",  # a date to YAML
    "command: echo\ntags: {n: 1}\n",  # a number the model turns into text
    "command: echo\ncode: ''\n",
    "command: echo\nnot_a_field: 1\n",
]


def job_file(folder: Path, text: str) -> Path:
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "train.py").write_text("print(1)\n")
    path = folder / "job.yml"
    path.write_text(text)
    return path


class _Rest:
    """A workspace that records what it is sent, answering a submission with a view or refusing it."""

    url = "http://127.0.0.1:1"

    def __init__(self, refusal: KilnError | None = None) -> None:
        self.refusal = refusal
        self.sent: list[tuple[str, str, Any]] = []

    def send_json(self, method: str, path: str, params: Any = None, *, json: Any = None, content: Any = None) -> Any:
        self.sent.append((f"{method} as written", path, json))
        if path == UPLOADS:
            return {"reference": REFERENCE, "kind": "folder", "content_hash": "c" * 64}
        if self.refusal is not None:
            raise self.refusal
        return view(name=json.get("name") or "a" * 32)

    def call(self, operation: Any, /, *, json: Any = None, **_: Any) -> Any:
        assert operation is api.jobs.CREATE
        self.sent.append(("POST checked", JOBS, json))
        if self.refusal is not None:
            raise self.refusal
        return JobView.model_validate(view())


def view(**fields: Any) -> dict[str, Any]:
    return {
        "id": "a" * 32, "name": "a" * 32, "type": "command", "display_name": None, "experiment_name": "e",
        "experiment_id": "1", "status": "queued", "compute": "local", "command": "python t.py", "code_hash": None,
        "created_at": "2026-01-01T00:00:00.123456Z", "preparing_at": None, "started_at": None, "ended_at": None,
        "duration_seconds": None, "exit_code": None, "failure_reason": None, "inputs": {}, "outputs": [], "tags": {},
        "mlflow_run_url": "http://x/mlflow", "pinned_inputs": {}, "environment": ServerInterpreterPin().model_dump(mode="json"),
        "gpu_ids": [], "server_id": None, "created_by": "owner", "submission_id": None, "isolation": None,
        "params": None, "metrics": None,
    } | fields  # fmt: skip


@pytest.fixture(autouse=True)
def _uploads_answer_a_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "upload_path", lambda rest, path, keep_folder_name=False: REFERENCE)


@pytest.mark.parametrize("text", SIMPLE)
def test_a_simple_file_is_the_same_job_for_the_server_as_the_full_check_s_body(tmp_path: Path, text: str) -> None:
    path = job_file(tmp_path, text)
    rest = _Rest()
    job = JobOperations(rest).create(path)  # type: ignore[arg-type]
    [(how, sent)] = [(how, sent) for how, where, sent in rest.sent if where == JOBS]
    assert how == "POST as written" and isinstance(job.view_data(), dict)
    body, local_paths = check_submission(read_yaml_file(path), path.parent, [])
    for loc in local_paths:
        body[loc[0]] = REFERENCE
    as_sent, as_checked = (parse_job_spec(YamlSource(data)) for data in (sent, body))
    assert as_sent.model_dump() == as_checked.model_dump()
    assert sent["experiment_name"] == body["experiment_name"]


@pytest.mark.parametrize("text", NOT_SIMPLE)
def test_anything_else_goes_the_full_way(tmp_path: Path, text: str) -> None:
    path = job_file(tmp_path, text)
    assert simple_fields(read_yaml_file(path).data) is None
    rest = _Rest()
    try:
        JobOperations(rest).create(path)  # type: ignore[arg-type]
    except InvalidSpec:
        pass  # the full check refused it before anything was sent
    assert [how for how, where, _ in rest.sent if where == JOBS] in ([], ["POST checked"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("command: echo\nname: 'no spaces allowed'\n", "job.yml, line 2: field 'name'"),
        ("command: echo ${{inputs.x}}\n", "job.yml, line 1: command: '${{inputs.x}}'"),
        ("command: echo\ncode: ./nowhere\n", "code: folder './nowhere' not found"),
    ],
)
def test_a_refusal_is_the_full_check_s_error_when_it_finds_one(tmp_path: Path, text: str, expected: str) -> None:
    path = job_file(tmp_path, text)
    with pytest.raises(InvalidSpec) as full:
        check_submission(read_yaml_file(path), path.parent, [])
    with pytest.raises(InvalidSpec) as simple:
        JobOperations(_Rest(refusal=InvalidSpec("the server's words"))).create(path)  # type: ignore[arg-type]
    assert simple.value.message == full.value.message and expected in simple.value.message


@pytest.mark.parametrize("refusal", [AlreadyExists("a job named 'x' already exists"), Unavailable("cannot reach")])
def test_else_the_server_s_own_error(tmp_path: Path, refusal: KilnError) -> None:
    path = job_file(tmp_path, "command: echo\nname: x\ncode: ./src\n")
    with pytest.raises(type(refusal)) as raised:
        JobOperations(_Rest(refusal=refusal)).create(path)  # type: ignore[arg-type]
    assert raised.value is refusal


def test_the_answer_kept_as_json_is_what_the_view_writes(tmp_path: Path) -> None:
    job = JobOperations(_Rest()).create(job_file(tmp_path, "command: echo\n"))  # type: ignore[arg-type]
    held = json.dumps(job.view_data(), indent=2)
    assert job.name == "a" * 32 and job.status.value == "queued" and job.id == "a" * 32
    assert held == json.dumps(job.view.model_dump(mode="json"), indent=2)  # the view, validated on first read
    assert job.view_data() == job.view.model_dump(mode="json")


def test_overrides_and_specs_go_the_full_way(tmp_path: Path) -> None:
    path = job_file(tmp_path, "command: echo\n")
    rest = _Rest()
    ops = JobOperations(rest)  # type: ignore[arg-type]
    ops.create(path, overrides=["display_name=x"])
    ops.create({"command": "echo"})
    sent = [(how, body.get("display_name")) for how, where, body in rest.sent if where == JOBS]
    assert sent == [("POST checked", "x"), ("POST checked", None)]
