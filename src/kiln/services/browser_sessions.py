"""Browser sessions for the studio and MLflow's UI: a sign-in with a token makes a session row, the
cookie carries its id and a secret (the database keeps the secret's SHA-256), and signing out deletes
the row, so a copied cookie is worthless after it. Sessions last ``SESSION_HOURS``; a session acts for
the API token it was signed in with (by its public id), so revoking that token, or a new role for its
user, counts for the browser too.

``kiln ui`` asks for a one-time sign-in code (``CODE_SECONDS``, one use: deleted as it is redeemed,
even with two servers racing) and opens a URL that carries the code, never the token.

Every write a browser makes with its cookie must carry ``csrf_token(cookie)`` in the header
``X-Kiln-CSRF`` (``kiln.server.auth``): an HMAC of the session's id keyed by the workspace's secret,
which pages read from their ``<meta name="kiln-csrf">``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kiln.clock import utcnow
from kiln.errors import Forbidden, Unauthorized
from kiln.services.credentials import CACHE_LIMIT, CACHE_SECONDS, WORKSPACE_OWNER, CredentialVerifier, Principal
from kiln.store.tables import BrowserSessionRow
from kiln.store.users import UserRepository

SESSION_HOURS = 12
CODE_SECONDS = 120
CSRF_HEADER = "x-kiln-csrf"
SIGNED_OUT = (
    "this browser's session is not valid for this workspace (signed out, expired after 12 hours, or its token was "
    "revoked); sign in again"
)
_SEPARATOR = "."


@dataclass(frozen=True)
class _Known:
    token_id: str | None
    expires_at: datetime
    looked_up: float


class BrowserSessions:
    def __init__(
        self, repository: UserRepository, verifier: CredentialVerifier, secret: str,
        now: Callable[[], datetime] = utcnow, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._repository = repository
        self._verifier = verifier
        self._key = hmac.new(secret.encode(), b"kiln-browser-sessions", hashlib.sha256).digest()
        self._now = now
        self._clock = clock
        self._cache: dict[str, _Known] = {}
        self._lock = threading.Lock()

    # Signing in and out -----------------------------------------------------------------------
    def start(self, principal: Principal) -> str:
        """A new session acting for ``principal``'s token; the cookie's value."""
        self._refuse_job_token(principal)
        self._repository.end_expired_browser_sessions(self._now())
        return self._add("session", principal.token_id, timedelta(hours=SESSION_HOURS))

    def new_code(self, principal: Principal) -> str:
        """A one-time sign-in code for ``principal`` (``kiln ui``)."""
        self._refuse_job_token(principal)
        return self._add("code", principal.token_id, timedelta(seconds=CODE_SECONDS))

    def redeem(self, code: str) -> str:
        """A session for the code's principal (the code is gone after); Unauthorized if it cannot be used."""
        code_id, _, secret = code.partition(_SEPARATOR)
        taken = self._repository.take_code(code_id, _hash(secret), self._now()) if secret else None
        if taken is None:
            raise Unauthorized(
                f"this sign-in link was used already or is older than {CODE_SECONDS // 60} minutes; "
                "run 'kiln ui' again, or sign in with a token"
            )
        principal = WORKSPACE_OWNER if taken.token_id is None else self._verifier.by_token_id(taken.token_id)
        assert principal is not None
        return self.start(principal)

    def end(self, cookie: str) -> None:
        """Sign out: the session is deleted (a copy of the cookie stops working too)."""
        session_id = cookie.partition(_SEPARATOR)[0]
        with self._lock:
            self._cache.pop(cookie, None)
        self._repository.end_browser_session(session_id)

    # Each request -----------------------------------------------------------------------------
    def principal(self, cookie: str, cached_only: bool = False) -> Principal | None:
        """Who the cookie's session acts for; Unauthorized if it has ended. With ``cached_only``, None
        when the answer would need the database (an async caller then asks again in a thread)."""
        known = self._cache.get(cookie)
        if known is None or self._clock() - known.looked_up >= CACHE_SECONDS:
            if cached_only:
                return None
            known = self._look_up(cookie)
        if known.expires_at <= self._now():
            raise Unauthorized(SIGNED_OUT)
        if known.token_id is None:
            return WORKSPACE_OWNER
        principal = self._verifier.by_token_id(known.token_id, cached_only=cached_only)
        return principal

    def csrf_token(self, cookie: str) -> str:
        session_id = cookie.partition(_SEPARATOR)[0]
        return hmac.new(self._key, f"csrf\0{session_id}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie: str, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf_token(cookie).encode())

    # Inside -----------------------------------------------------------------------------------
    def _add(self, kind: str, token_id: str | None, lasts: timedelta) -> str:
        now = self._now()
        session_id, secret = secrets.token_hex(12), secrets.token_urlsafe(32)
        row = BrowserSessionRow(
            id=session_id, kind=kind, secret_hash=_hash(secret), token_id=token_id, created_at=now,
            expires_at=now + lasts,
        )  # fmt: skip
        if not self._repository.add_browser_session(row):  # 96 random bits taken: astronomically unlikely
            raise Unauthorized("could not start a session; try again")
        return f"{session_id}{_SEPARATOR}{secret}"

    def _look_up(self, cookie: str) -> _Known:
        session_id, _, secret = cookie.partition(_SEPARATOR)
        row = self._repository.browser_session(session_id) if secret and len(session_id) <= 32 else None
        if row is None or not hmac.compare_digest(row.secret_hash.encode(), _hash(secret).encode()):
            raise Unauthorized(SIGNED_OUT)
        known = _Known(row.token_id, row.expires_at, self._clock())
        with self._lock:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[cookie] = known
        return known

    @staticmethod
    def _refuse_job_token(principal: Principal) -> None:
        if principal.job_id is not None:
            raise Forbidden("a job's own token cannot sign in to a browser; use your API token")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
