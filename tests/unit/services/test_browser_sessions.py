"""Browser sessions: a row per sign-in, ended by signing out or after 12 hours, acting for its token;
one-time sign-in codes; the CSRF token of a session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiln.errors import Forbidden, Unauthorized
from kiln.services.browser_sessions import CODE_SECONDS, SESSION_HOURS, BrowserSessions
from kiln.services.credentials import WORKSPACE_OWNER, CredentialVerifier, Principal
from kiln.services.users import UserService
from kiln.specs.users import Role, TokenRequest, UserSpec
from kiln.store.database import create_database_engine, migrate, session_factory
from kiln.store.users import UserRepository


class Moments:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
        self.monotonic = 1000.0

    def later(self, **delta: float) -> None:
        step = timedelta(**delta)
        self.now += step
        self.monotonic += step.total_seconds()


@pytest.fixture
def moments() -> Moments:
    return Moments()


@pytest.fixture
def parts(tmp_path: Path, moments: Moments) -> tuple[BrowserSessions, UserService]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'kiln.db'}")
    migrate(engine)
    repository = UserRepository(session_factory(engine))
    verifier = CredentialVerifier(repository, clock=lambda: moments.monotonic)
    sessions = BrowserSessions(
        repository, verifier, "workspace-token", now=lambda: moments.now, clock=lambda: moments.monotonic
    )
    return sessions, UserService(repository, verifier)


def test_a_session_acts_for_its_signer_until_signed_out(parts: tuple[BrowserSessions, UserService]) -> None:
    sessions, _users = parts
    cookie = sessions.start(WORKSPACE_OWNER)
    assert sessions.principal(cookie) == WORKSPACE_OWNER
    copy = str(cookie)
    sessions.end(cookie)
    with pytest.raises(Unauthorized, match="sign in again"):
        sessions.principal(copy)  # deleted: a copy of the cookie is worthless


def test_a_session_ends_after_its_hours(parts: tuple[BrowserSessions, UserService], moments: Moments) -> None:
    sessions, _users = parts
    cookie = sessions.start(WORKSPACE_OWNER)
    moments.later(hours=SESSION_HOURS - 0.01)
    assert sessions.principal(cookie) == WORKSPACE_OWNER
    moments.later(hours=0.02)
    with pytest.raises(Unauthorized, match="expired after 12 hours"):
        sessions.principal(cookie)


def test_forged_or_mangled_cookies_are_refused(parts: tuple[BrowserSessions, UserService]) -> None:
    sessions, _users = parts
    real = sessions.start(WORKSPACE_OWNER)
    session_id = real.partition(".")[0]
    for cookie in (f"{session_id}.{'0' * 43}", f"{session_id}.", "no-dot", "x" * 500 + ".y", f"{session_id}.\xe9t\xe9"):
        with pytest.raises(Unauthorized):
            sessions.principal(cookie)


def test_a_users_session_follows_their_token_and_role(
    parts: tuple[BrowserSessions, UserService], moments: Moments
) -> None:
    sessions, users = parts
    users.create_user(UserSpec(name="ann", role=Role.READER), created_by="boss")
    made = users.create_token(WORKSPACE_OWNER, "ann", TokenRequest())
    cookie = sessions.start(users.verifier.bearer(made.token))
    assert sessions.principal(cookie) == Principal("ann", Role.READER, made.id)
    users.revoke_token(WORKSPACE_OWNER, made.id)
    moments.later(seconds=10)  # past the caches
    with pytest.raises(Unauthorized, match="was revoked"):
        sessions.principal(cookie)


def test_a_sign_in_code_works_once_and_briefly(parts: tuple[BrowserSessions, UserService], moments: Moments) -> None:
    sessions, _users = parts
    code = sessions.new_code(WORKSPACE_OWNER)
    cookie = sessions.redeem(code)
    assert sessions.principal(cookie) == WORKSPACE_OWNER
    with pytest.raises(Unauthorized, match="used already"):
        sessions.redeem(code)
    late = sessions.new_code(WORKSPACE_OWNER)
    moments.later(seconds=CODE_SECONDS + 1)
    with pytest.raises(Unauthorized, match="used already or is older"):
        sessions.redeem(late)
    with pytest.raises(Unauthorized):
        sessions.principal(code)  # a code is not a session


def test_a_jobs_token_cannot_sign_a_browser_in(parts: tuple[BrowserSessions, UserService]) -> None:
    sessions, _users = parts
    job = Principal("ann", Role.CONTRIBUTOR, "tk_1", job_id="job-1")
    with pytest.raises(Forbidden, match="job's own token"):
        sessions.start(job)
    with pytest.raises(Forbidden):
        sessions.new_code(job)


def test_the_csrf_token_belongs_to_one_session(parts: tuple[BrowserSessions, UserService]) -> None:
    sessions, _users = parts
    one, two = sessions.start(WORKSPACE_OWNER), sessions.start(WORKSPACE_OWNER)
    assert sessions.csrf_ok(one, sessions.csrf_token(one))
    assert not sessions.csrf_ok(one, sessions.csrf_token(two))
    assert not sessions.csrf_ok(one, None) and not sessions.csrf_ok(one, "")
