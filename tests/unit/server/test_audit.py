"""The audit log at the REST layer (kiln.server.audit), without a server process: which routes write it,
what an entry says (and never: a secret), and the read's filters, on the app in-process with a real log
over SQLite and stand-in services."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from kiln import api
from kiln.api.operation import Operation
from kiln.capabilities import load_capabilities, rest_contract
from kiln.config import Settings
from kiln.errors import Conflict, InvalidSpec
from kiln.server.app import create_app
from kiln.server.audit import AuditedRoute, audits, describe_change
from kiln.server.routes import bind
from kiln.services.audit import AuditLog
from kiln.services.credentials import Principal
from kiln.specs.audit import since_time
from kiln.specs.compute import ComputeSpec, ComputeView
from kiln.specs.roles import Role
from kiln.store.audit import AuditFilter, AuditRepository
from kiln.store.database import session_factory
from kiln.store.tables import Base

SERVED = rest_contract(load_capabilities())
# A call that changes nothing kept: the only operations other than GET that write no entry. Adding one here
# is a decision a reviewer sees (the operation says why beside its ``audited=False``).
NOT_CHANGES = {
    "uploads.create",  # content-addressed bytes; the create that names them is audited
    "endpoints.invoke",  # scoring
    "endpoints.keys",  # reading the keys (POST keeps them out of caches)
    "jobs.validate",  # a dry run (kiln job create --dry-run)
    "models.compare",  # a gate reading two versions' metrics (kiln model compare)
}


def _routes(app: FastAPI) -> dict[str, APIRoute]:
    from fastapi.routing import iter_route_contexts

    return {
        route.operation_id: route
        for context in iter_route_contexts(app.routes)
        if isinstance(route := context.original_route, APIRoute) and route.operation_id
    }


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(Settings(home=tmp_path_factory.mktemp("home")))


def test_every_operation_that_changes_the_workspace_writes_the_audit_log_but_those_that_change_nothing(
    app: FastAPI,
) -> None:
    changes = {name for name, operation in SERVED.items() if operation.method != "GET"}
    assert {name for name in changes if not audits(SERVED[name])} == NOT_CHANGES
    assert len(changes - NOT_CHANGES) >= 34  # jobs, assets, models, aliases, endpoints, users, tokens, …
    routes = _routes(app)
    for name, operation in SERVED.items():
        assert isinstance(routes[name], AuditedRoute) == audits(operation), name
        if isinstance(routes[name], AuditedRoute):
            assert routes[name].operation is operation  # type: ignore[attr-defined]


def test_a_new_route_that_changes_something_is_audited_without_saying_so() -> None:
    router = APIRouter()
    made = Operation(
        "throwaway.create", "POST", "/api/v1/throwaway", summary="x", role=Role.CONTRIBUTOR, action="x", response=dict
    )
    read = Operation(
        "throwaway.show", "GET", "/api/v1/throwaway", summary="x", role=Role.READER, action="x", response=dict
    )
    bind(router, made)(lambda: {})
    bind(router, read)(lambda: {})
    kinds = {route.operation_id: type(route) for route in router.routes if isinstance(route, APIRoute)}
    assert issubclass(kinds["throwaway.create"], AuditedRoute)
    assert not issubclass(kinds["throwaway.show"], AuditedRoute)


# What an entry says ---------------------------------------------------------------------------
def test_an_entry_names_the_resource_from_the_path_the_answer_or_the_body() -> None:
    alias = describe_change(
        api.models.SET_ALIAS, {"name": "iris", "alias": "champion"}, {}, {"version": 5}, {"name": "iris"}
    )
    assert (alias.action, alias.kind, alias.name, alias.version) == ("models.set_alias", "model", "iris", "5")
    assert alias.detail == {"alias": "champion", "fields": ["version"]}
    job = describe_change(api.jobs.CREATE, {}, {}, {"type": "command", "command": "echo $SECRET"}, {"name": "j1"})
    assert (job.kind, job.name, job.detail) == ("job", "j1", {"fields": ["command", "type"], "type": "command"})
    blue = describe_change(
        SERVED["deployments.create"], {"name": "iris"}, {"all_traffic": "true"}, {"name": "blue"}, {"name": "blue"}
    )
    assert (blue.kind, blue.name, blue.detail["result"], blue.detail["all_traffic"]) == (
        "deployment", "iris", "blue", "true",
    )  # fmt: skip
    archived = describe_change(api.data.ARCHIVE, {"name": "rows"}, {"version": "2"}, None, None)
    assert (archived.kind, archived.name, archived.version, archived.detail) == ("data", "rows", "2", {})


def test_an_entry_never_holds_a_secret_from_the_body_or_the_answer() -> None:
    credentials = {"account_key": "SECRET-KEY"}
    store = describe_change(
        api.datastores.CREATE, {}, {}, {"name": "blob", "type": "azure_blob", "credentials": credentials},
        {"name": "blob", "credentials": credentials},
    )  # fmt: skip
    token = describe_change(
        api.users.CREATE_TOKEN, {"name": "ann"}, {}, {"description": "ci"}, {"id": "tk_1", "token": "kiln_SECRET"}
    )
    variables = describe_change(
        SERVED["deployments.create"], {"name": "iris"}, {}, {"name": "blue", "environment_variables": {"K": "SECRET"}},
        None,
    )  # fmt: skip
    for change in (store, token, variables):
        assert "SECRET" not in repr(change)
    assert store.detail == {"fields": ["credentials", "name", "type"], "type": "azure_blob"}
    traffic = describe_change(api.endpoints.UPDATE, {"name": "iris"}, {}, {"traffic": {"blue": 90, "green": 10}}, None)
    assert traffic.detail == {"fields": ["traffic"], "traffic": {"blue": 90, "green": 10}}
    role = describe_change(api.users.UPDATE, {"name": "bob"}, {}, {"role": "owner"}, {"name": "bob"})
    assert (role.kind, role.name, role.detail) == ("user", "bob", {"fields": ["role"], "role": "owner"})


def test_since_reads_a_span_or_a_time_and_refuses_anything_else() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert since_time("1d", now) == now - timedelta(days=1)
    assert since_time("30m", now) == now - timedelta(minutes=30)
    assert since_time("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(InvalidSpec, match="since: 'yesterday' is not how far back"):
        since_time("yesterday", now)
    with pytest.raises(InvalidSpec, match="since: '999999w' reaches back before the year 1"):
        since_time("999999w", now)


# In-process: a change, its entry, the read ------------------------------------------------------
class _Verifier:
    def __init__(self) -> None:
        self.role = Role.OWNER

    def bearer(self, token: str, cached_only: bool = False) -> Principal:
        return Principal("ann", self.role, "tk_1")


class _Computes:
    def create(self, spec: ComputeSpec, created_by: str | None = None) -> ComputeView:
        if spec.name == "taken":
            raise Conflict("compute target 'taken' exists")
        return ComputeView(name=spec.name, type=spec.type, address=spec.address)

    def delete(self, name: str) -> None:
        return None

    def list(self) -> list[ComputeView]:
        return []


@pytest.fixture
def in_process(app: FastAPI, tmp_path: Path) -> Iterator[tuple[TestClient, _Verifier, AuditLog]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    Base.metadata.create_all(engine)
    log = AuditLog(AuditRepository(session_factory(engine)))
    verifier = _Verifier()
    app.state.workspace = SimpleNamespace(users=SimpleNamespace(verifier=verifier), computes=_Computes(), audit=log)
    try:
        yield TestClient(app, headers={"Authorization": "Bearer kiln_user_token"}), verifier, log
    finally:
        del app.state.workspace
        engine.dispose()


def test_each_change_is_appended_in_order_with_who_and_from_where_and_a_refusal_is_not(in_process: Any) -> None:
    http, verifier, log = in_process
    ray = {"name": "gpu", "type": "ray", "address": "http://head:8265"}
    assert http.post(api.computes.CREATE.url(), json=ray).status_code == 201
    assert http.post(api.computes.CREATE.url(), json={**ray, "name": "taken"}).status_code == 409
    assert http.delete(api.computes.DELETE.url(name="gpu")).status_code == 204
    verifier.role = Role.READER
    assert http.delete(api.computes.DELETE.url(name="gpu")).status_code == 403
    assert http.get(api.computes.LIST.url()).status_code == 200  # a read writes nothing
    entries = log.entries(AuditFilter())
    assert [(e.action, e.kind, e.name) for e in entries] == [
        ("computes.create", "compute", "gpu"),
        ("computes.delete", "compute", "gpu"),
    ]
    first = entries[0]
    assert (first.user, first.via, first.client, first.user_agent) == ("ann", "token tk_1", "testclient", "testclient")
    assert first.detail == {"fields": ["address", "name", "type"], "type": "ray"}
    assert entries[0].id < entries[1].id and entries[0].at <= entries[1].at


def test_owners_read_the_log_filtered_and_others_are_refused(in_process: Any) -> None:
    http, verifier, _ = in_process
    for name in ("a", "b"):
        http.post(api.computes.CREATE.url(), json={"name": name, "type": "local"})
    answer = http.get(api.audit.LIST.url(), params={"name": "b", "since": "1h", "kind": "compute", "user": "ann"})
    assert [(entry["action"], entry["name"]) for entry in answer.json()] == [("computes.create", "b")]
    assert http.get(api.audit.LIST.url(), params={"user": "bob"}).json() == []
    assert http.get(api.audit.LIST.url(), params={"since": "2099-01-01T00:00:00Z"}).json() == []
    assert http.get(api.audit.LIST.url(), params={"since": "soon"}).status_code == 422
    assert [entry["name"] for entry in http.get(api.audit.LIST.url(), params={"limit": 1}).json()] == ["b"]
    verifier.role = Role.CONTRIBUTOR
    refused = http.get(api.audit.LIST.url())
    assert refused.status_code == 403 and "reading the audit log needs owner" in refused.json()["error"]["message"]
    for method in ("PUT", "PATCH", "DELETE", "POST"):  # no route alters it
        assert http.request(method, api.audit.LIST.url()).status_code == 405, method
