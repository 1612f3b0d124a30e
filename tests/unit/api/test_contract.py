"""The REST contract (kiln.api) against the app and the SDK, without a server process: the app is
built with create_app for a fresh home and read (routes, OpenAPI document) or called in-process
with a stand-in workspace; its lifespan (database, MLflow) never starts."""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kiln import api
from kiln.api.operation import JSON, NO_CONTENT, ErrorBody, Operation
from kiln.capabilities import load_capabilities, rest_contract
from kiln.config import Settings
from kiln.errors import ERROR_CLASSES, InvalidSpec, NotFound
from kiln.sdk.rest import RestClient
from kiln.server.app import create_app
from kiln.server.routes import app_routes
from kiln.services.credentials import Principal
from kiln.specs.job_kinds import ANY_JOB_KIND, job_kinds
from kiln.specs.users import Role

SRC = Path(__file__).resolve().parents[3] / "src" / "kiln"
NOT_OPERATIONS = {"/health", "/mlflow", "/mlflow/{path:path}"}  # the MLflow proxy and the probe: not the API
STUDIO_PAGES = {"/", "/login", "/logout"}  # kiln studio's HTML (and /ui/…): a client of the API, not part of it
OPERATIONS = api.operations()  # kiln's own
SERVED = rest_contract(
    load_capabilities()
)  # what a server without plug-ins serves: kiln's and the built-in capabilities'


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(Settings(home=tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="module")
def openapi(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def contract_problems(app: FastAPI, operations: dict[str, Operation[Any]]) -> list[str]:
    """What differs between the app's routes and the declared operations."""
    problems = []
    bound: Counter[str] = Counter()
    for method, path, operation_id in app_routes(app):
        if path in NOT_OPERATIONS or path in STUDIO_PAGES or path.startswith("/ui/"):
            continue
        declared = operations.get(operation_id or "")
        if declared is None or (declared.method, declared.path) != (method, path):
            problems.append(f"{method} {path} is not a declared operation")
        else:
            bound[declared.name] += 1
    problems += [f"{name} is not bound" for name in operations if not bound[name]]
    problems += [f"{name} is bound {count} times" for name, count in bound.items() if count > 1]
    return problems


# Routes and declarations ----------------------------------------------------------------------
def test_every_route_is_a_declared_operation_and_every_operation_is_bound_once(app: FastAPI) -> None:
    assert contract_problems(app, SERVED) == []
    assert set(SERVED) - set(OPERATIONS) == {  # the built-in capabilities' routes
        "models.convert",  # conversion
        "models.package", "models.export", "deployments.package",  # packaging
        "rai.report", "rai.analyses",  # rai
        "privacy.query", "privacy.synthesize", "privacy.budget",  # privacy
        "rollouts.start", "rollouts.show", "rollouts.cancel",  # rollout
        "schedules.create", "schedules.list", "schedules.show", "schedules.disable", "schedules.enable",
        "schedules.delete",  # schedules
        "components.create", "components.list", "components.show",  # pipelines
        "batch_endpoints.create", "batch_endpoints.list", "batch_endpoints.show", "batch_endpoints.delete",
        "batch_endpoints.invoke", "batch_endpoints.list_jobs", "batch_deployments.create",
        "batch_deployments.list", "batch_deployments.show", "batch_deployments.delete",  # batch
    }  # fmt: skip
    # + users.sign_in_code (kiln ui); endpoints.invoke, .metrics_stream; jobs.metric_stream, .code_files, .code_file,
    # .output_files, .output_file (kiln studio)
    assert len(OPERATIONS) == 77  # + jobs.validate (--dry-run), audit.list, models.compare
    assert len({(op.method, op.path) for op in SERVED.values()}) == len(SERVED)


def test_a_route_added_without_a_declaration_or_a_declaration_never_bound_is_caught(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    app.get("/api/v1/throwaway")(lambda: {"ok": True})
    unbound = Operation(
        "throwaway.show", "GET", "/api/v1/throwaway/{name}", summary="x", role=Role.READER, action="x", response=dict
    )
    assert contract_problems(app, {**SERVED, unbound.name: unbound}) == [
        "GET /api/v1/throwaway is not a declared operation",
        "throwaway.show is not bound",
    ]


def test_operation_names_are_unique_and_tag_dotted() -> None:
    with pytest.raises(ValueError, match="is not '<tag>.<verb>'"):
        Operation("nodot", "GET", "/api/v1/x", summary="x", role=Role.READER, action="x", response=dict)
    assert {op.tag for op in SERVED.values()} >= {"jobs", "models", "users", "endpoints", "deployments"}


# The OpenAPI document -------------------------------------------------------------------------
def test_the_openapi_document_has_every_operation_with_what_it_takes_and_answers(openapi: dict[str, Any]) -> None:
    assert openapi["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A user's API token (kiln user token create), or the workspace token in KILN_HOME/token.",
    }
    assert "HTTPValidationError" not in str(openapi)  # FastAPI's 422 shape is not what the server answers
    for operation in SERVED.values():
        documented = openapi["paths"][operation.path][operation.method.lower()]
        assert documented["operationId"] == operation.name
        assert documented["summary"] == operation.summary and documented["tags"] == [operation.tag]
        assert f"**Needs role:** `{operation.role.value}` ({operation.role.and_above()})" in documented["description"]
        assert documented["x-kiln-role"] == operation.role.value
        assert documented["x-kiln-action"] == operation.action
        assert {"bearerToken": []} in documented["security"]
        _check_parameters(operation, documented)
        _check_body(operation, documented)
        _check_answers(operation, documented)


def _check_parameters(operation: Operation[Any], documented: dict[str, Any]) -> None:
    parameters = documented.get("parameters", [])
    assert [p["name"] for p in parameters if p["in"] == "path"] == list(operation.path_parameters), operation.name
    assert {p["name"] for p in parameters if p["in"] == "query"} == set(operation.query), operation.name


def _check_body(operation: Operation[Any], documented: dict[str, Any]) -> None:
    body: dict[str, Any] = documented.get("requestBody") or {}
    if isinstance(operation.body, type):
        assert body["content"][JSON]["schema"] == {"$ref": f"#/components/schemas/{operation.body.__name__}"}
    elif operation.body == ANY_JOB_KIND:  # one of the spec classes of the kinds registered when the app was made
        schema = json.dumps(body["content"][JSON]["schema"])
        for kind in job_kinds():
            assert f"#/components/schemas/{kind.spec_class().__name__}" in schema, (operation.name, kind.type)
    elif operation.body is not None:
        assert body["content"][JSON]["schema"], operation.name
    elif operation.raw_body is not None:
        assert body["content"][operation.raw_body]["schema"]["format"] == "binary"
    else:
        assert body == {}, operation.name


def _check_answers(operation: Operation[Any], documented: dict[str, Any]) -> None:
    answers = documented["responses"]
    success = answers[str(operation.status_code)]
    if operation.response is NO_CONTENT:
        assert "content" not in success, operation.name
    elif operation.is_json:
        assert success["content"][JSON]["schema"], operation.name
    else:
        assert list(success["content"]) == [operation.media_type], operation.name
    for status in operation.also_answers:
        assert answers[str(status)]["content"] == success["content"]
    errors = {status: answer for status, answer in answers.items() if status.startswith(("4", "5"))}
    assert set(errors) == {str(status) for status in operation.error_statuses}, operation.name
    for answer in errors.values():
        assert answer["content"][JSON]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
        assert answer["description"].startswith(tuple(cls.__name__ for cls in ERROR_CLASSES.values()))
    if operation.role is not Role.READER:
        assert errors["403"]["description"] == f"Forbidden: {operation.action} needs {operation.role.and_above()}"


def test_the_error_body_model_is_what_every_error_serialises_to(openapi: dict[str, Any]) -> None:
    for cls in ERROR_CLASSES.values():
        body = cls("it went wrong").to_json()
        assert ErrorBody.model_validate(body).model_dump() == body
    assert openapi["components"]["schemas"]["ErrorBody"]["required"] == ["error"]


def test_docs_and_the_document_stay_public(app: FastAPI) -> None:
    http = TestClient(app)  # not entered: the lifespan does not start
    assert http.get("/openapi.json").json()["info"]["title"] == "kiln workspace"
    assert "swagger" in http.get("/docs").text.lower()


# Roles: the contract's data, checked by the app ----------------------------------------------
@pytest.mark.parametrize("role", [Role.READER, Role.CONTRIBUTOR])
def test_every_operation_refuses_a_role_below_its_own_naming_its_action(app: FastAPI, role: Role) -> None:
    refused = [op for op in SERVED.values() if not role.allows(op.role)]
    assert refused
    with _in_process(app, role) as http:
        for operation in refused:
            answer = http.request(operation.method, operation.url(**dict.fromkeys(operation.path_parameters, "x")))
            assert answer.status_code == 403, operation.name
            assert answer.json() == {
                "error": {
                    "type": "Forbidden",
                    "message": f"user 'ann' is a {role.value}; {operation.action} needs {operation.role.and_above()}",
                }
            }


def test_a_handler_gets_who_is_asking(app: FastAPI) -> None:
    with _in_process(app) as http:
        assert http.get(api.users.WHOAMI.url()).json() == {
            "name": "ann",
            "role": "reader",
            "token_id": "tk_1",
            "job": None,
        }


# The SDK side -----------------------------------------------------------------------------------
def test_no_api_path_is_written_outside_kiln_api() -> None:
    for package in ("sdk", "cli", "transfer", "server/routers"):
        for file in (SRC / package).rglob("*.py"):
            assert "/api/v1" not in file.read_text(), file


def test_the_sdk_calls_every_operation_but_the_prometheus_scrape() -> None:
    called = set()
    for file in (SRC / "sdk").rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            chain = _attribute_chain(node)
            if len(chain) == 3 and chain[0] == "api":
                called.add(getattr(getattr(api, chain[1]), chain[2]).name)
            called |= _sent_by_path(node)
    assert set(api.operations()) - called == {"metrics.prometheus"}  # a capability's: its own module's test


def _sent_by_path(node: ast.AST) -> set[str]:
    """The operation a ``rest.send_json("METHOD", PATH, …)`` sends, PATH a constant of ``kiln.api.paths`` (an answer
    read without the operation's models: an upload's reference, a simple job file's submission)."""
    from kiln.api import paths

    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "send_json"):
        return set()
    method, path = (node.args + [None, None])[:2]
    if not (isinstance(method, ast.Constant) and isinstance(path, ast.Name) and hasattr(paths, path.id)):
        return set()
    sent = (method.value, getattr(paths, path.id))
    return {name for name, operation in api.operations().items() if (operation.method, operation.path) == sent}


def _attribute_chain(node: ast.AST) -> list[str]:
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return [node.id, *reversed(names)] if isinstance(node, ast.Name) else []


def test_a_call_fills_each_path_parameter_as_one_escaped_segment() -> None:
    sent: list[httpx.Request] = []
    rest = _recording_client(sent)
    for name in ("a/b?c=1#d", "..", ".", "iris.v2", "x y%"):
        with pytest.raises(NotFound):
            rest.call(api.jobs.SHOW, name=name, params={"run_data": True})
    assert [request.url.raw_path for request in sent] == [
        b"/api/v1/jobs/a%2Fb%3Fc%3D1%23d?run_data=true",
        b"/api/v1/jobs/%2E%2E?run_data=true",
        b"/api/v1/jobs/%2E?run_data=true",
        b"/api/v1/jobs/iris.v2?run_data=true",
        b"/api/v1/jobs/x%20y%25?run_data=true",
    ]
    with pytest.raises(InvalidSpec, match="name: an empty value names nothing"):
        rest.call(api.jobs.SHOW, name="")


def test_a_call_refuses_what_its_operation_does_not_take() -> None:
    rest = _recording_client([])
    with pytest.raises(TypeError, match=r"jobs.show takes the path parameters \('name',\), not \('job',\)"):
        rest.call(api.jobs.SHOW, job="x")
    with pytest.raises(TypeError, match="jobs.show takes no query parameter with_run_data"):
        rest.call(api.jobs.SHOW, name="x", params={"with_run_data": True})
    with pytest.raises(TypeError, match="jobs.create takes JSON body"):
        rest.call(api.jobs.CREATE)
    with pytest.raises(TypeError, match="jobs.logs answers text/plain; charset=utf-8: use RestClient.stream"):
        rest.call(api.jobs.LOGS, name="x")


def test_a_name_holding_a_slash_or_a_question_mark_reaches_the_route_it_names(app: FastAPI) -> None:
    asked: list[str] = []

    def get(name: str, with_run_data: bool = False) -> None:
        asked.append(name)
        raise NotFound(f"no job named '{name}'")

    with _in_process(app, jobs=SimpleNamespace(get=get)) as http:
        rest = RestClient("http://testserver", None)
        rest._http = http
        for name in ("a?b#c", "..", "50%"):  # (the test client decodes a path twice: no '%2F' here)
            with pytest.raises(NotFound, match="no job named"):
                rest.call(api.jobs.SHOW, name=name)
        assert asked == ["a?b#c", "..", "50%"]
        # the server decodes '%2F' before routing: 'x/logs' would be the logs route of job 'x'
        with pytest.raises(NotFound, match="no name in this workspace holds a '/': /api/v1/jobs/x/logs"):
            rest.call(api.jobs.SHOW, name="x/logs")
        assert asked == ["a?b#c", "..", "50%"]


# Helpers ----------------------------------------------------------------------------------------
def _recording_client(sent: list[httpx.Request]) -> RestClient:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404, json=NotFound("nothing here").to_json())

    rest = RestClient("http://workspace", "token")
    rest._http = httpx.Client(base_url="http://workspace", transport=httpx.MockTransport(answer))
    return rest


class _Verifier:
    """Every user token acts as 'ann' with the role given."""

    def __init__(self, role: Role) -> None:
        self.role = role

    def bearer(self, token: str, cached_only: bool = False) -> Principal:
        return Principal("ann", self.role, "tk_1")


@contextmanager
def _in_process(app: FastAPI, role: Role = Role.READER, **services: Any) -> Iterator[TestClient]:
    """The app in-process, its lifespan not started: a stand-in workspace holds only ``services``,
    and every request carries a user token that acts as 'ann' with ``role``."""
    app.state.workspace = SimpleNamespace(users=SimpleNamespace(verifier=_Verifier(role)), **services)
    try:
        yield TestClient(app, headers={"Authorization": "Bearer kiln_user_token"})
    finally:
        del app.state.workspace


def test_a_capabilitys_operations_and_job_kinds_join_the_contract(tmp_path: Path) -> None:
    plugins = "tests.capability_plugins.echo,tests.capability_plugins.absent"
    app = create_app(Settings.load(home=tmp_path, plugins=plugins))
    contract = app.state.operations
    assert {"echo-test.ping", "echo-test.say", "echo-test.context", "absent-test.ping"} <= set(contract)
    assert contract_problems(app, contract) == []
    assert contract_problems(app, SERVED) == [  # kiln's own contract and the built-in ones do not cover them
        f"GET {path} is not a declared operation"
        for path in (
            "/api/v1/echo-test/ping",
            "/api/v1/echo-test/say",
            "/api/v1/echo-test/context",
            "/api/v1/absent-test/ping",
        )
    ]
    body = json.dumps(app.openapi()["paths"]["/api/v1/jobs"]["post"]["requestBody"])
    assert "EchoJobSpec" in body and "CommandJobSpec" in body
