"""``Client().users``: users, their roles and their API tokens (owners manage others; anyone their own)."""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kiln import api
from kiln.sdk.rest import RestClient
from kiln.specs.users import (
    NewTokenView,
    Role,
    TokenRequest,
    TokenView,
    UserSpec,
    UserUpdate,
    UserView,
    WhoAmIView,
    parse_duration,
)
from kiln.specs.yaml_source import explain_validation_error

ModelT = TypeVar("ModelT", bound=BaseModel)


class UserOperations:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest

    def whoami(self) -> WhoAmIView:
        """The user (and role) this client's token acts as."""
        return self._rest.call(api.users.WHOAMI)

    def sign_in_link(self) -> str:
        """A one-time link that signs a browser in to the studio as this client's user (two minutes, one use)."""
        view = self._rest.call(api.users.SIGN_IN_CODE)
        return self._rest.url + view.url_path

    # Users ------------------------------------------------------------------------------------
    def create(self, name: str, role: Role | str, description: str | None = None) -> UserView:
        spec = _checked(UserSpec, {"name": name, "role": role, "description": description})
        return self._rest.call(api.users.CREATE, json=spec.model_dump(mode="json"))

    def list(self) -> builtins.list[UserView]:
        return self._rest.call(api.users.LIST)

    def get(self, name: str) -> UserView:
        return self._rest.call(api.users.SHOW, name=name)

    def update(self, name: str, role: Role | str | None = None, description: str | None = None) -> UserView:
        body = _checked(UserUpdate, {"role": role, "description": description})
        return self._rest.call(api.users.UPDATE, name=name, json=body.model_dump(mode="json", exclude_none=True))

    def delete(self, name: str) -> None:
        """The user and all their tokens."""
        self._rest.call(api.users.DELETE, name=name)

    # Tokens -----------------------------------------------------------------------------------
    def create_token(
        self,
        name: str,
        expires_in: str | float | timedelta | None = None,
        expires_at: datetime | str | None = None,
        description: str | None = None,
    ) -> NewTokenView:
        """A new API token of user ``name``; ``.token`` holds it (shown this once). ``expires_in``: seconds,
        a timedelta, or '30d' / '12h' / '90m' / '45s' / 'never'; neither given: 90 days."""
        body: dict[str, Any] = {"description": description}
        if isinstance(expires_in, str):
            seconds = parse_duration(expires_in)
            body.update({"expires_in_seconds": seconds} if seconds is not None else {"never_expires": True})
        elif isinstance(expires_in, timedelta):
            body["expires_in_seconds"] = expires_in.total_seconds()
        elif expires_in is not None:
            body["expires_in_seconds"] = float(expires_in)
        if expires_at is not None:
            body["expires_at"] = expires_at
        request = _checked(TokenRequest, body)
        return self._rest.call(
            api.users.CREATE_TOKEN, name=name, json=request.model_dump(mode="json", exclude_none=True)
        )

    def list_tokens(self, name: str) -> builtins.list[TokenView]:
        return self._rest.call(api.users.LIST_TOKENS, name=name)

    def revoke_token(self, token_id: str) -> TokenView:
        """The token stops working at once (within seconds on other servers sharing the database)."""
        return self._rest.call(api.users.REVOKE_TOKEN, token_id=token_id)


def _checked(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """The server's checks, here first: InvalidSpec naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise explain_validation_error(exc) from None
