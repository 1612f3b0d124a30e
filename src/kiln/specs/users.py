"""Users, roles and API tokens: the REST bodies and what the REST API answers about them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from kiln.errors import InvalidSpec
from kiln.specs.bounded import StrictModel, Text
from kiln.specs.roles import Role

USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"
WORKSPACE_PRINCIPAL = "workspace"
"""Who acts with the workspace token (KILN_HOME/token): the bootstrap owner. No user may take the name."""

DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
NEVER = "never"


class UserSpec(StrictModel):
    """The body of POST /api/v1/users."""

    name: str = Field(pattern=USER_NAME_PATTERN, description="Letters, digits, '.', '_', '@', '-'.")
    role: Role
    description: Text | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.casefold() == WORKSPACE_PRINCIPAL:
            raise ValueError(f"'{WORKSPACE_PRINCIPAL}' names whoever uses the workspace token; pick another name")
        return value


class UserUpdate(StrictModel):
    """The body of PATCH /api/v1/users/{name}: only what is given changes."""

    role: Role | None = None
    description: Text | None = None


class UserView(BaseModel):
    name: str
    role: Role
    description: str | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    active_tokens: int = Field(0, description="tokens neither revoked nor expired (job tokens included)")


class TokenRequest(StrictModel):
    """The body of POST /api/v1/users/{name}/tokens. Neither expiry given: 90 days."""

    description: str | None = Field(None, max_length=500)
    expires_in_seconds: float | None = Field(None, gt=0, le=100 * 365 * 86400, description="lifetime from now")
    expires_at: datetime | None = Field(None, description="a moment in the future (UTC when no zone is given)")
    never_expires: bool = False

    @model_validator(mode="after")
    def _one_expiry(self) -> TokenRequest:
        given = [self.expires_in_seconds is not None, self.expires_at is not None, self.never_expires]
        if sum(given) > 1:
            raise ValueError("give at most one of expires_in_seconds, expires_at and never_expires")
        return self

    def expiry(self, now: datetime) -> datetime | None:
        """When a token made now expires; InvalidSpec for a moment already past."""
        if self.never_expires:
            return None
        if self.expires_at is not None:
            moment = self.expires_at if self.expires_at.tzinfo else self.expires_at.replace(tzinfo=UTC)
            if moment <= now:
                raise InvalidSpec(
                    f"expires_at: {moment.isoformat()} is already past (now {now.isoformat(timespec='seconds')}); "
                    "give a moment in the future"
                )
            return moment.astimezone(UTC)
        if self.expires_in_seconds is not None:
            return now + timedelta(seconds=self.expires_in_seconds)
        return now + DEFAULT_TOKEN_LIFETIME


TokenState = Literal["active", "expired", "revoked"]


class TokenView(BaseModel):
    """An API token's record. The token itself is shown only once, when it is created."""

    id: str
    user: str
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    description: str | None
    job: str | None = Field(None, description="the job whose process holds it (revoked when the job ends)")
    state: TokenState
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None


class NewTokenView(TokenView):
    token: str = Field(description="shown once: keep it secret; the workspace keeps only its SHA-256")


class WhoAmIView(BaseModel):
    name: str
    role: Role
    token_id: str | None = Field(None, description="None for the workspace token")
    job: str | None = None


class SignInCodeView(BaseModel):
    """A one-time link into the studio (``kiln ui``): it carries a code, never the token."""

    url_path: str = Field(description="open it on the workspace server: /login?code=…")
    expires_in_seconds: int


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, field: str = "--expires-in") -> float | None:
    """'30d', '12h', '90m', '45s', '2w' as seconds; 'never' as None."""
    if text.strip().lower() == NEVER:
        return None
    match = _DURATION.match(text.lower())
    if not match or float(match.group(1)) <= 0:
        raise InvalidSpec(
            f"{field}: {text!r} is not a duration; write a positive number and a unit: 45s, 90m, 12h, 30d, 2w "
            f"(or '{NEVER}')"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
