"""POST /api/v1/jobs takes a job of any registered kind: validated by the registry (422 InvalidSpec naming the
field), documented in the OpenAPI document as one of the kinds' specs, selected by ``type``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pytest
from pydantic import TypeAdapter

from kiln.config import Settings
from kiln.errors import InvalidSpec
from kiln.specs import job_kinds
from kiln.specs.job import CommandJobSpec, ProcessJobSpec
from kiln.specs.job_kinds import JobKind, job_spec_body, parse_job_spec
from kiln.specs.yaml_source import parse_yaml


class EchoJobSpec(ProcessJobSpec):
    """A kind added by this test."""

    type: Literal["echo"] = "echo"
    text: str


@pytest.fixture
def echo_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    kind = JobKind("echo", spec=f"{__name__}:EchoJobSpec", handler="kiln.jobs.command:CommandJobHandler")
    monkeypatch.setitem(job_kinds._kinds, "echo", kind)  # registered for this test only
    yield


def _body(data: Any) -> Any:
    return TypeAdapter(job_spec_body()).validate_python(data)


def test_a_body_is_parsed_into_its_kinds_class(echo_kind: None) -> None:
    assert isinstance(_body({"command": "echo hi"}), CommandJobSpec)  # no type: a command job, as in Azure ML
    echo = _body({"type": "echo", "text": "hi"})
    assert isinstance(echo, EchoJobSpec) and echo.text == "hi"


def test_a_bad_body_is_an_invalid_spec_that_names_the_field(echo_kind: None) -> None:
    with pytest.raises(InvalidSpec) as caught:
        _body({"type": "echo", "txt": "hi"})
    # as REST said it before kinds: the fields, no file label
    assert caught.value.message == (
        "required field 'text' is missing; unknown field 'txt' (check its spelling; see the schema at /docs)"
    )
    with pytest.raises(
        InvalidSpec, match=r"type: 'no-such-kind' is not a job type .*known types: command, (\w+, )*echo"
    ):
        _body({"type": "no-such-kind"})
    with pytest.raises(InvalidSpec, match="must be a job"):
        _body(["command", "echo"])


def test_a_mapping_names_fields_without_a_file_and_a_yaml_source_names_the_line() -> None:
    with pytest.raises(InvalidSpec, match=r"^required field 'command' is missing; unknown field 'comand'"):
        parse_job_spec({"comand": "echo"})
    with pytest.raises(InvalidSpec, match=r"^job.yml, line 2: unknown field 'comand'"):
        parse_job_spec(parse_yaml("command: echo\ncomand: echo\n", Path("job.yml")))


def test_the_openapi_document_shows_every_registered_kind(echo_kind: None, tmp_path: Path) -> None:
    from kiln.server.app import create_app

    document = create_app(Settings(home=tmp_path)).openapi()
    body = document["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    refs = {
        f"#/components/schemas/{name}"
        for name in (
            "CommandJobSpec",
            "EchoJobSpec",
            "ModelConversionJobSpec",
            "ResponsibleAiJobSpec",
            "BatchScoringJobSpec",
            "SweepJobSpec",
            "PipelineJobSpec",
        )  # fmt: skip
    }
    assert {item["$ref"] for item in body["oneOf"]} == refs
    assert body["discriminator"]["propertyName"] == "type"
    assert set(body["discriminator"]["mapping"]) == {
        "command",
        "echo",
        "model_conversion",
        "responsible_ai",
        "batch_scoring",
        "sweep",
        "pipeline",
    }  # kiln's, the test's, the built-ins'
    view = document["components"]["schemas"]["JobView"]["properties"]
    assert {item["$ref"].rsplit("/", 1)[-1] for item in view["environment"]["oneOf"]} == {
        "ServerInterpreterPin", "InlineEnvironmentPin", "RegisteredEnvironmentPin", "CuratedEnvironmentPin",
    }  # fmt: skip


def test_the_route_answers_a_bad_body_with_422_invalid_spec(echo_kind: None, tmp_path: Path) -> None:
    from kiln.server.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    settings = Settings(home=tmp_path)
    app = create_app(settings)
    app.state.workspace = SimpleNamespace(jobs=None)  # no lifespan: the body is refused before any service is used
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {settings.token_file.read_text().strip()}"}
    response = client.post("/api/v1/jobs", json={"type": "echo", "txt": "hi"}, headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "InvalidSpec" and "unknown field 'txt'" in error["message"]
