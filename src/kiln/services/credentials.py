"""Who is asking: API tokens and browser sessions turned into a ``Principal`` (a user and a role).

Tokens are ``kiln_`` + 256 random bits; the database keeps their SHA-256 only. A browser
session (``kiln.services.browser_sessions``) acts for the token it was signed in with, by its
public id, so neither a copy of the database nor a cookie reveals a token.

Every MLflow call a job makes is checked, so results are cached for ``CACHE_SECONDS``: a
revocation or role change made through this server clears the cache at once; one made
through another server sharing the database takes effect here within ``CACHE_SECONDS``.
Expiry is compared with the clock on every request, cached or not.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kiln.clock import utcnow
from kiln.errors import Forbidden, Unauthorized
from kiln.specs.users import WORKSPACE_PRINCIPAL, Role
from kiln.store.tables import ApiTokenRow, UserRow
from kiln.store.users import UserRepository

TOKEN_PREFIX = "kiln_"
CACHE_SECONDS = 5.0
CACHE_LIMIT = 10_000
UNKNOWN_TOKEN = "the token sent is not valid for this workspace (the local CLI reads it from KILN_HOME/token)"


@dataclass(frozen=True)
class Principal:
    """The user a request acts as. ``token_id`` is None for the workspace token; ``job_id`` is set
    for a job's own token (it acts as the job's creator)."""

    name: str
    role: Role
    token_id: str | None = None
    job_id: str | None = None

    def ensure(self, needed: Role, action: str) -> None:
        """Forbidden, naming the role needed, unless this principal's role allows ``action``."""
        if not self.role.allows(needed):
            raise Forbidden(f"user '{self.name}' is a {self.role.value}; {action} needs {needed.and_above()}")


WORKSPACE_OWNER = Principal(WORKSPACE_PRINCIPAL, Role.OWNER)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_token_id() -> str:
    return "tk_" + secrets.token_hex(6)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_prefix(token: str) -> str:
    """Enough to tell one's tokens apart, far too little to guess the rest (24 of 256 bits)."""
    return token[: len(TOKEN_PREFIX) + 4]


@dataclass(frozen=True)
class _Lookup:
    """What the database said about a credential, judged again (expiry) at each use."""

    token: ApiTokenRow
    user: UserRow | None
    looked_up: float

    def principal(self, now: datetime) -> Principal:
        token, label = self.token, f"({self.token.id}, user '{self.token.user_name}')"
        if token.revoked_at is not None:
            if token.job_id:
                raise Unauthorized(f"the token sent {label} was revoked: it was job {token.job_id}'s, and ends with it")
            raise Unauthorized(
                f"the token sent {label} was revoked at {_moment(token.revoked_at)}; ask an owner for a new one"
            )
        if token.expires_at is not None and token.expires_at <= now:
            raise Unauthorized(
                f"the token sent {label} expired at {_moment(token.expires_at)}; "
                f"make a new one: kiln user token create {token.user_name}"
            )
        if self.user is None and token.job_id and token.user_name == WORKSPACE_PRINCIPAL:
            return Principal(WORKSPACE_PRINCIPAL, Role.OWNER, token.id, token.job_id)  # a job of the workspace token
        if self.user is None:
            raise Unauthorized(f"the token sent {label} belongs to a user who no longer exists")
        return Principal(self.user.name, Role(self.user.role), token.id, token.job_id)


class CredentialVerifier:
    def __init__(
        self, repository: UserRepository, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._repository = repository
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, _Lookup] = {}
        self._lock = threading.Lock()

    # Bearer tokens ----------------------------------------------------------------------------
    def bearer(self, token: str, cached_only: bool = False) -> Principal | None:
        """The principal of an API token; Unauthorized saying why not. With ``cached_only``, None
        when the answer is not cached (so an async caller can look it up in a thread)."""
        key = hash_token(token)
        lookup = self._cached(key)
        if lookup is None:
            if cached_only:
                return None
            found = self._repository.token_by_hash(key) if token.startswith(TOKEN_PREFIX) else None
            if found is None:
                raise Unauthorized(UNKNOWN_TOKEN)
            lookup = self._remember(key, _Lookup(found[0], found[1], self._clock()))
        return lookup.principal(utcnow())

    def by_token_id(self, token_id: str, cached_only: bool = False) -> Principal | None:
        """The principal of the API token with this public id (a browser session acts for one);
        Unauthorized when it is gone, revoked or expired."""
        lookup = self._cached("id:" + token_id)
        if lookup is None:
            if cached_only:
                return None
            found = self._repository.token_by_id(token_id)
            if found is None:
                raise Unauthorized("the token this browser signed in with no longer exists; sign in again")
            lookup = self._remember("id:" + token_id, _Lookup(found[0], found[1], self._clock()))
        return lookup.principal(utcnow())

    # Cache ------------------------------------------------------------------------------------
    def forget(self) -> None:
        """After any change to users or tokens: the next request of each looks again."""
        with self._lock:
            self._cache.clear()

    def _cached(self, key: str) -> _Lookup | None:
        lookup = self._cache.get(key)
        if lookup is not None and self._clock() - lookup.looked_up < self._ttl:
            return lookup
        return None

    def _remember(self, key: str, lookup: _Lookup) -> _Lookup:
        with self._lock:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = lookup
        return lookup


def _moment(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
