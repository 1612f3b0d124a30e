"""The JSON Schemas of kiln's YAML kinds (kiln.specs.json_schemas), as `kiln schema export` writes them and the
server answers them: every example YAML of the repository (examples/, the README's and docs' YAML blocks) that
kiln accepts validates against its kind's schema, a misspelled field is refused by both, ``$schema`` (Azure's or
kiln's) is accepted by both, and a job kind registered later has its schema without a line here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from fastapi.testclient import TestClient

from kiln.capabilities import load_capabilities
from kiln.cli.schemas import export
from kiln.config import Settings
from kiln.errors import KilnError, NotFound
from kiln.server.app import create_app
from kiln.specs import job_kinds as registry
from kiln.specs.job_kinds import JobKind, job_kinds, load_attribute, parse_job_spec
from kiln.specs.json_schemas import RESOURCE_KINDS, SCHEMA_DIALECT, json_schema, schema_kinds

REPO = Path(__file__).resolve().parents[3]
# YAML files in examples/ that are not a kind kiln reads with -f, and what they are
NOT_KILN_KINDS = {
    "examples/privacy/patients.meta.yml": "SmartNoise table metadata, named by a data version's privacy",
    "examples/github-actions/.github/actions/setup-kiln/action.yml": "a GitHub composite action (actionlint checks it)",
    "examples/github-actions/.github/workflows/release-on-main.yml": "a GitHub Actions workflow (actionlint checks it)",
    "examples/github-actions/.github/workflows/train-on-pr.yml": "a GitHub Actions workflow (actionlint checks it)",
}
AZURE_SCHEMAS = {
    "command-job": "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json",
    "online-endpoint": "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json",
    "online-deployment": "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
    "data": "https://azuremlschemas.azureedge.net/latest/data.schema.json",
    "model": "https://azuremlschemas.azureedge.net/latest/model.schema.json",
    "environment": "https://azuremlschemas.azureedge.net/latest/environment.schema.json",
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """What `kiln schema export --output DIR` wrote, by kind."""
    load_capabilities()
    folder = tmp_path_factory.mktemp("schemas")
    export(output=folder, kind=None, base_url=None)
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


def kinds_kiln_accepts(data: dict[str, Any]) -> list[str]:
    """The kinds whose kiln loader accepts ``data`` (a job: through the job-kind registry, as `kiln job create`)."""
    accepted = []
    for kind, (model, _) in RESOURCE_KINDS.items():
        if kind == "config":  # read from KILN_HOME only, and it ignores unknown keys: checked on its own below
            continue
        try:
            load_attribute(model).model_validate(data)
        except (ValueError, KilnError):
            continue
        accepted.append(kind)
    try:
        parse_job_spec(data)
    except KilnError:
        return accepted
    return [*accepted, "job", f"{data.get('type', 'command')}-job"]


def repository_yaml() -> list[tuple[str, Any]]:
    """Every YAML file of examples/ and every ```yaml block of the README and docs/, with where it is."""
    found = [
        (str(path.relative_to(REPO)), yaml.safe_load(path.read_text()))
        for path in sorted((REPO / "examples").rglob("*.y*ml"))
        if "node_modules" not in path.parts
    ]
    for page in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        for number, block in enumerate(re.findall(r"```ya?ml\n(.*?)```", page.read_text(), re.S)):
            found.append((f"{page.relative_to(REPO)} block {number + 1}", yaml.safe_load(block)))
    return found


def problems(schema: dict[str, Any], data: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(data)]


def test_export_writes_one_schema_per_yaml_kind_including_every_registered_job_kind(
    exported: dict[str, dict[str, Any]],
) -> None:
    assert set(exported) == set(schema_kinds())
    assert {"command-job", "job", "data", "environment", "model", "online-endpoint", "online-deployment"} <= set(
        exported
    )
    assert {f"{kind.type}-job" for kind in job_kinds()} <= set(exported)  # responsible_ai, model_conversion, …
    for kind, schema in exported.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == SCHEMA_DIALECT and schema["title"] == f"kiln {kind}"


def test_every_example_yaml_that_kiln_accepts_validates_against_its_kinds_schema(
    exported: dict[str, dict[str, Any]],
) -> None:
    checked, unclaimed = [], []
    for where, data in repository_yaml():
        kinds = kinds_kiln_accepts(data) if isinstance(data, dict) else []
        if not kinds:
            if not where.endswith("md") and " block " not in where and where not in NOT_KILN_KINDS:
                unclaimed.append(where)
            continue
        for kind in kinds:
            assert problems(exported[kind], data) == [], (where, kind)
        checked.append(where)
    assert unclaimed == [], "an example YAML that no kiln loader accepts: fix it or say what it is in NOT_KILN_KINDS"
    assert len(checked) >= 35, checked  # jobs of three kinds, data, environments, endpoints, deployments, datastores


@pytest.mark.parametrize(
    ("kind", "data", "misspelled"),
    [
        ("command-job", {"command": "python train.py", "enviroment": "azureml:sklearn:1"}, "enviroment"),
        ("job", {"type": "command", "command": "echo", "compute": "local", "experiment": "x"}, "experiment"),
        ("online-endpoint", {"name": "iris", "trafic": {"blue": 100}}, "trafic"),
        ("online-deployment", {"name": "blue", "endpoint_name": "iris", "model": "azureml:iris:1", "instance_cont": 1}, "instance_cont"),
        ("data", {"name": "rows", "path": "rows.csv", "typ": "uri_file"}, "typ"),
        ("model", {"name": "iris", "path": "model", "tag": {"a": "b"}}, "tag"),
        ("environment", {"name": "env", "image": "python:3.11", "conda": "conda.yml"}, "conda"),
    ],
)  # fmt: skip
def test_a_misspelled_field_is_refused_by_the_schema_as_by_kiln(
    exported: dict[str, dict[str, Any]], kind: str, data: dict[str, Any], misspelled: str
) -> None:
    assert problems(exported[kind], data), f"the {kind} schema let '{misspelled}' through"
    assert kind not in kinds_kiln_accepts(data)
    corrected = {("environment" if k == "enviroment" else k): v for k, v in data.items() if k != misspelled}
    assert problems(exported[kind], corrected) == []


@pytest.mark.parametrize("kind", sorted(AZURE_SCHEMAS))
def test_a_schema_key_azures_or_kilns_is_accepted_by_the_schema_and_by_kiln(
    exported: dict[str, dict[str, Any]], kind: str
) -> None:
    minimal = {
        "command-job": {"command": "echo hi"},
        "online-endpoint": {"name": "iris"},
        "online-deployment": {"name": "blue", "endpoint_name": "iris", "model": "azureml:iris:1"},
        "data": {"name": "rows", "path": "rows.csv", "type": "uri_file"},
        "model": {"name": "iris", "path": "model"},
        "environment": {"name": "env", "image": "python:3.11"},
    }[kind]
    for url in (AZURE_SCHEMAS[kind], f"http://127.0.0.1:8765/schemas/{kind}.json"):
        data = {"$schema": url, **minimal}
        assert problems(exported[kind], data) == [], url
        assert kind.replace("command-job", "job") in kinds_kiln_accepts(data), url


def test_the_config_schema_takes_what_config_yaml_takes_and_completes_its_settings(
    exported: dict[str, dict[str, Any]],
) -> None:
    config = {
        "$schema": "./schemas/config.json", "gpus": [0, 1], "plugins": ["my_package.capability"], "port": 8080,
        "database_url": "postgresql://kiln@db/kiln", "local_concurrency": 2, "unknown_azureml_compute": "local",
    }  # fmt: skip
    assert problems(exported["config"], config) == []
    settings = Settings.model_validate(config)
    assert (settings.gpus, settings.plugins, settings.port) == ("0,1", "my_package.capability", 8080)
    assert {"database_url", "artifact_root", "gpus", "plugins", "job_sandbox"} <= set(exported["config"]["properties"])
    assert problems(exported["config"], {"port": "eighty"}) and problems(exported["config"], {"gpus": {"a": 1}})


def test_a_job_kind_registered_later_has_its_schema_without_a_line_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    kind = JobKind("echo-test", spec="tests.capability_plugins.echo_parts:EchoJobSpec", handler="x:y")
    monkeypatch.setitem(registry._kinds, kind.type, kind)  # registered for this test only
    assert "echo-test-job" in schema_kinds()
    assert "echo-test" in json.dumps(json_schema("echo-test-job")["properties"]["type"])
    assert "EchoJobSpec" in json.dumps(json_schema("job"))
    with pytest.raises(NotFound, match="no YAML kind 'no-such-job' has a schema; the kinds: environment, data"):
        json_schema("no-such-job")


def test_the_server_answers_each_schema_to_anyone_with_its_own_id(tmp_path: Path) -> None:
    http = TestClient(create_app(Settings(home=tmp_path)))  # no token: an editor sends none
    answer = http.get("/schemas/command-job.json")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/schema+json")
    assert answer.json()["$id"] == "http://testserver/schemas/command-job.json"
    assert {k: v for k, v in answer.json().items() if k != "$id"} == json_schema("command-job")
    missing = http.get("/schemas/nothing.json")
    assert missing.status_code == 404 and "no YAML kind 'nothing'" in missing.json()["error"]["message"]
    assert http.post("/schemas/command-job.json").status_code == 405
    assert http.get("/schemas/..%2Fapi%2Fv1%2Fjobs.json").status_code == 404
    assert http.get("/api/v1/jobs").status_code == 401  # the rest of the server still needs a token
