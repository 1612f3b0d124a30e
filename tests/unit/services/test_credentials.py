"""Roles, API tokens and the MLflow read-only list, without a server: a real migrated SQLite database,
the real app's routes and MLflow's own endpoint table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from fastapi.routing import APIRoute, iter_route_contexts

from kiln.config import Settings
from kiln.errors import Forbidden, InvalidSpec, Unauthorized
from kiln.server.app import create_app
from kiln.server.permissions import declares_access
from kiln.services.credentials import CredentialVerifier, Principal, hash_token
from kiln.services.users import UserService
from kiln.specs.users import Role, TokenRequest, UserSpec, UserUpdate, parse_duration
from kiln.store.database import MIGRATIONS_DIR, create_database_engine, migrate, session_factory
from kiln.store.jobs import JobRepository
from kiln.store.users import UserRepository
from kiln.tracking.mlflow_access import READ_ONLY_POSTS, is_read_only, mlflow_path, with_creator_tag
from kiln.tracking.registry import CREATED_BY_TAG

OWNER = Principal("boss", Role.OWNER, "tk_boss")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(tmp_path: Path) -> sa.Engine:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    migrate(engine)
    return engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def users(database: sa.Engine, clock: FakeClock) -> UserService:
    repository = UserRepository(session_factory(database))
    return UserService(repository, CredentialVerifier(repository, clock=clock))


# Roles -----------------------------------------------------------------------------------------
def test_roles_are_ordered_and_refusals_name_the_role_needed() -> None:
    assert Role.OWNER.allows(Role.CONTRIBUTOR) and Role.CONTRIBUTOR.allows(Role.READER)
    assert not Role.READER.allows(Role.CONTRIBUTOR) and not Role.CONTRIBUTOR.allows(Role.OWNER)
    with pytest.raises(Forbidden) as refused:
        Principal("ann", Role.READER, "tk_1").ensure(Role.CONTRIBUTOR, "creating jobs")
    assert refused.value.message == "user 'ann' is a reader; creating jobs needs contributor or owner"
    with pytest.raises(Forbidden, match="user 'bob' is a contributor; creating users needs owner$"):
        Principal("bob", Role.CONTRIBUTOR, "tk_2").ensure(Role.OWNER, "creating users")


def test_every_route_states_the_role_it_needs(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    undeclared = [
        f"{sorted(context.methods or [])} {context.path}"
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and context.path != "/health"
        and not declares_access(context.original_route)
    ]
    assert undeclared == [], "routes without requires(...): " + ", ".join(undeclared)


def test_a_route_that_states_no_role_needs_reader_to_read_and_contributor_to_write() -> None:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from kiln.server.permissions import PRINCIPAL_SCOPE_KEY, default_access

    app = FastAPI(dependencies=[Depends(default_access)])
    app.get("/things")(lambda: {"ok": True})
    app.post("/things")(lambda: {"ok": True})

    def as_user(role: Role) -> TestClient:
        async def with_principal(scope, receive, send):  # type: ignore[no-untyped-def]
            scope[PRINCIPAL_SCOPE_KEY] = Principal("ann", role, "tk_1")
            await app(scope, receive, send)

        return TestClient(with_principal)

    assert as_user(Role.READER).get("/things").status_code == 200
    with pytest.raises(Forbidden, match="user 'ann' is a reader; POST /things needs contributor or owner"):
        as_user(Role.READER).post("/things")
    assert as_user(Role.CONTRIBUTOR).post("/things").status_code == 200


def test_user_names_and_token_requests_are_checked() -> None:
    with pytest.raises(ValueError, match="names whoever uses the workspace token"):
        UserSpec(name="workspace", role=Role.OWNER)
    with pytest.raises(ValueError, match="pattern"):
        UserSpec(name="ann smith", role=Role.READER)
    with pytest.raises(ValueError, match="at most one of"):
        TokenRequest(expires_in_seconds=5, never_expires=True)
    with pytest.raises(ValueError, match="less than or equal"):
        TokenRequest(expires_in_seconds=1e12)
    now = datetime.now(UTC)
    with pytest.raises(InvalidSpec, match="already past"):
        TokenRequest(expires_at=now - timedelta(minutes=1)).expiry(now)
    assert TokenRequest(never_expires=True).expiry(now) is None
    assert TokenRequest().expiry(now) == now + timedelta(days=90)
    assert TokenRequest(expires_at=datetime(2999, 1, 1)).expiry(now) == datetime(2999, 1, 1, tzinfo=UTC)
    assert parse_duration("30d") == 30 * 86400 and parse_duration("90m") == 5400 and parse_duration("never") is None
    for bad in ("30", "-1d", "soon", "0s"):
        with pytest.raises(InvalidSpec, match="--expires-in: .* is not a duration"):
            parse_duration(bad)


# Tokens ----------------------------------------------------------------------------------------
def test_tokens_are_kept_as_hashes_and_revocation_expiry_and_roles_take_effect(
    users: UserService, database: sa.Engine, clock: FakeClock
) -> None:
    users.create_user(UserSpec(name="ann", role=Role.CONTRIBUTOR), created_by="boss")
    made = users.create_token(OWNER, "ann", TokenRequest(description="laptop"))
    assert made.token.startswith("kiln_") and len(made.token) > 40 and made.created_by == "boss"
    with database.connect() as connection:
        stored = connection.execute(sa.text("select token_hash, prefix from api_tokens")).one()
    assert stored.token_hash == hash_token(made.token) and made.token.startswith(stored.prefix)
    assert made.token not in json.dumps([tuple(row) for row in _all_rows(database)])

    verifier = users.verifier
    assert verifier.bearer(made.token) == Principal("ann", Role.CONTRIBUTOR, made.id)
    users.update_user("ann", UserUpdate(role=Role.READER))
    assert verifier.bearer(made.token) == Principal("ann", Role.READER, made.id)  # at once on this server

    users.revoke_token(OWNER, made.id)
    with pytest.raises(Unauthorized, match=rf"the token sent \({made.id}, user 'ann'\) was revoked") as refused:
        verifier.bearer(made.token)
    assert made.token not in refused.value.message

    short = users.create_token(OWNER, "ann", TokenRequest(expires_in_seconds=60))
    assert verifier.bearer(short.token) is not None
    with database.begin() as connection:  # as if a minute had passed
        past = datetime.now(UTC) - timedelta(seconds=1)
        connection.execute(
            sa.text("update api_tokens set expires_at = :at where id = :id"), {"at": past, "id": short.id}
        )
    clock.now += 10  # the cached answer is stale
    with pytest.raises(Unauthorized, match=rf"\({short.id}, user 'ann'\) expired at .*kiln user token create ann"):
        verifier.bearer(short.token)
    with pytest.raises(Unauthorized, match="not valid for this workspace"):
        verifier.bearer("kiln_" + "x" * 43)


def test_a_revocation_through_another_server_counts_here_once_the_cache_is_stale(
    users: UserService, database: sa.Engine, clock: FakeClock
) -> None:
    users.create_user(UserSpec(name="ann", role=Role.READER), created_by="boss")
    made = users.create_token(OWNER, "ann", TokenRequest())
    assert users.verifier.bearer(made.token) is not None  # cached here
    other_server = UserRepository(session_factory(database))
    assert other_server.revoke(made.id, datetime.now(UTC))
    clock.now += 4
    assert users.verifier.bearer(made.token, cached_only=True) is not None  # within CACHE_SECONDS
    clock.now += 2
    assert users.verifier.bearer(made.token, cached_only=True) is None
    with pytest.raises(Unauthorized, match="was revoked"):
        users.verifier.bearer(made.token)


def test_who_may_manage_which_tokens(users: UserService) -> None:
    for name, role in (("ann", Role.READER), ("bob", Role.CONTRIBUTOR), ("cyd", Role.CONTRIBUTOR)):
        users.create_user(UserSpec(name=name, role=role), created_by="boss")
    ann = Principal("ann", Role.READER, "tk_a")
    bob = Principal("bob", Role.CONTRIBUTOR, "tk_b")
    with pytest.raises(Forbidden, match="user 'ann' is a reader; creating API tokens needs contributor or owner"):
        users.create_token(ann, "ann", TokenRequest())
    own = users.create_token(bob, "bob", TokenRequest())
    with pytest.raises(Forbidden, match="creating tokens for other users needs owner"):
        users.create_token(bob, "cyd", TokenRequest())
    cyds = users.create_token(OWNER, "cyd", TokenRequest())
    with pytest.raises(Forbidden, match="listing other users' tokens needs owner"):
        users.list_tokens(bob, "cyd")
    with pytest.raises(Forbidden, match="revoking other users' tokens needs owner"):
        users.revoke_token(bob, cyds.id)
    assert users.revoke_token(bob, own.id).state == "revoked"
    assert [view.state for view in users.list_tokens(ann, "ann")] == []
    with pytest.raises(Forbidden, match="a job's own token cannot create API tokens"):
        users.create_token(Principal("bob", Role.CONTRIBUTOR, "tk_j", job_id="job-1"), "bob", TokenRequest())


def test_jobs_act_with_their_creators_token_until_they_end(users: UserService, database: sa.Engine) -> None:
    from kiln.store.tables import JobRow

    users.create_user(UserSpec(name="bob", role=Role.CONTRIBUTOR), created_by="boss")
    job = JobRow(id="run1", name="job-1", created_by="bob")
    token = users.job_token(job)
    assert users.verifier.bearer(token) == Principal(
        "bob", Role.CONTRIBUTOR, users.list_tokens(OWNER, "bob")[0].id, "run1"
    )
    again = users.job_token(job)  # prepared again after a restart: the first one is revoked
    with pytest.raises(Unauthorized, match="was revoked: it was job run1's, and ends with it"):
        users.verifier.bearer(token)
    users.end_job_token(job)
    with pytest.raises(Unauthorized, match="revoked"):
        users.verifier.bearer(again)
    assert users.list_tokens(OWNER, "bob") == []  # ended jobs' tokens are not listed


@pytest.mark.parametrize("creator", [None, "workspace"])
def test_jobs_of_the_workspace_token_get_a_token_of_their_own(users: UserService, creator: str | None) -> None:
    from kiln.store.tables import JobRow

    job = JobRow(id="run2", name="old", created_by=creator)  # None: submitted before users existed
    token = users.job_token(job)
    assert token != "workspace-secret" and token.startswith("kiln_")
    principal = users.verifier.bearer(token)
    assert principal is not None and (principal.name, principal.role, principal.job_id) == (
        "workspace",
        Role.OWNER,
        "run2",
    )
    users.end_job_token(job)
    with pytest.raises(Unauthorized, match="was revoked: it was job run2's"):
        users.verifier.bearer(token)


def test_jobs_from_before_users_have_no_creator(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        connection.execute(
            sa.text(
                "insert into jobs (id, name, experiment_name, experiment_id, compute, status, spec, created_at,"
                " cancel_requested, pinned_inputs, environment) values ('r1', 'old-job', 'e', '1', 'local',"
                " 'queued', '{\"command\": \"true\"}', '2026-01-01 00:00:00', 0, '{}', '{}')"
            )
        )
    migrate(engine)
    assert JobRepository(session_factory(engine)).get("old-job").created_by is None


# MLflow through /mlflow --------------------------------------------------------------------------
def test_the_read_only_mlflow_calls_are_real_mlflow_endpoints_and_graphql_only_reads() -> None:
    from mlflow.server import app as mlflow_app
    from mlflow.server.graphql.autogenerated_graphql_schema import MutationType

    posts = {mlflow_path(rule.rule) for rule in mlflow_app.url_map.iter_rules() if "POST" in (rule.methods or ())}
    assert READ_ONLY_POSTS <= posts, READ_ONLY_POSTS - posts
    mutations = [name for name in MutationType._meta.fields]
    assert mutations and all(name.startswith("mlflow_search") for name in mutations), mutations


@pytest.mark.parametrize(
    ("method", "path", "read_only"),
    [
        ("GET", "/api/2.0/mlflow/runs/get", True),
        ("GET", "/api/2.0/mlflow/metrics/get-history-bulk", True),
        ("POST", "/api/2.0/mlflow/runs/search", True),
        ("POST", "/ajax-api/2.0/mlflow/experiments/search", True),
        ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions", True),
        ("POST", "/graphql", True),
        ("POST", "/api/2.0/mlflow/runs/log-metric", False),
        ("POST", "/api/2.0/mlflow/runs/log-batch", False),
        ("POST", "/api/2.0/mlflow/model-versions/create", False),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/x/artifacts/model.pkl", False),
        ("DELETE", "/api/2.0/mlflow/registered-models/delete", False),
        ("PATCH", "/api/2.0/mlflow/registered-models/update", False),
        ("POST", "/api/9.9/mlflow/something-new/search", False),  # unknown: a write until listed
    ],
)
def test_which_mlflow_calls_readers_may_make(method: str, path: str, read_only: bool) -> None:
    assert is_read_only(method, path) is read_only


def test_a_new_model_version_carries_its_creator_whatever_the_client_sent() -> None:
    sent = {
        "name": "m",
        "source": "s",
        "tags": [{"key": CREATED_BY_TAG, "value": "mallory"}, {"key": "a", "value": "1"}],
    }
    body = json.loads(with_creator_tag(json.dumps(sent).encode(), "ann"))
    assert body["tags"] == [{"key": "a", "value": "1"}, {"key": CREATED_BY_TAG, "value": "ann"}]
    assert json.loads(with_creator_tag(b'{"name": "m"}', "ann"))["tags"] == [{"key": CREATED_BY_TAG, "value": "ann"}]
    assert with_creator_tag(b"not json", "ann") == b"not json"


def _all_rows(engine: sa.Engine) -> list[sa.Row[object]]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text("select * from api_tokens"))) + list(
            connection.execute(sa.text("select * from users"))
        )
