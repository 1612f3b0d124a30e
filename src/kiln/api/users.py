"""Users, their roles and their API tokens. Owners manage users; anyone may see and revoke their own
tokens, contributors may create their own (who may do more is decided by ``kiln.services.users``)."""

from __future__ import annotations

from kiln.api.operation import NO_CONTENT, Operation
from kiln.errors import AlreadyExists, Conflict, Forbidden
from kiln.specs.users import (
    NewTokenView,
    Role,
    SignInCodeView,
    TokenRequest,
    TokenView,
    UserSpec,
    UserUpdate,
    UserView,
    WhoAmIView,
)  # fmt: skip

WHOAMI = Operation(
    "users.whoami", "GET", "/api/v1/whoami",
    summary="Who the token sent acts as",
    description="The user (and role) the token acts as; 'workspace' for the workspace token.",
    role=Role.READER, action="asking who one is",
    response=WhoAmIView,
)  # fmt: skip
CREATE = Operation(
    "users.create", "POST", "/api/v1/users",
    summary="Create a user",
    role=Role.OWNER, action="creating users",
    response=UserView, status_code=201, body=UserSpec, errors=(AlreadyExists,),
)  # fmt: skip
LIST = Operation(
    "users.list", "GET", "/api/v1/users",
    summary="List users",
    role=Role.READER, action="listing users",
    response=list[UserView],
)  # fmt: skip
SHOW = Operation(
    "users.show", "GET", "/api/v1/users/{name}",
    summary="Read a user",
    role=Role.READER, action="reading users",
    response=UserView,
)  # fmt: skip
UPDATE = Operation(
    "users.update", "PATCH", "/api/v1/users/{name}",
    summary="Change a user's role or description",
    description="A new role counts from the user's next request (within seconds on other servers).",
    role=Role.OWNER, action="changing users",
    response=UserView, body=UserUpdate,
)  # fmt: skip
DELETE = Operation(
    "users.delete", "DELETE", "/api/v1/users/{name}",
    summary="Delete a user",
    description="The user and all their tokens; what they created keeps their name.",
    role=Role.OWNER, action="deleting users",
    response=NO_CONTENT, status_code=204,
)  # fmt: skip
CREATE_TOKEN = Operation(
    "users.create_token", "POST", "/api/v1/users/{name}/tokens",
    summary="Create an API token for a user",
    description="The token is in this answer only; the workspace keeps its SHA-256. "
    "Contributors and owners may create their own; only an owner may create one for someone else.",
    role=Role.CONTRIBUTOR, action="creating API tokens",
    response=NewTokenView, status_code=201, body=TokenRequest, errors=(Forbidden, Conflict),
)  # fmt: skip
LIST_TOKENS = Operation(
    "users.list_tokens", "GET", "/api/v1/users/{name}/tokens",
    summary="List a user's API tokens",
    description="Anyone may list their own; only an owner may list someone else's.",
    role=Role.READER, action="listing tokens",
    response=list[TokenView], errors=(Forbidden,),
)  # fmt: skip
REVOKE_TOKEN = Operation(
    "users.revoke_token", "POST", "/api/v1/tokens/{token_id}/revoke",
    summary="Revoke an API token",
    description="It stops working at once on this server, within seconds on others sharing the database.",
    role=Role.READER, action="revoking tokens",
    response=TokenView, errors=(Forbidden,),
)  # fmt: skip
SIGN_IN_CODE = Operation(
    "users.sign_in_code", "POST", "/api/v1/whoami/sign-in-codes",
    summary="A one-time sign-in link for the studio",
    description=(
        "For the caller's own token (``kiln ui``): a link that signs a browser in as the caller once, within "
        "two minutes. It carries a code, never the token. A job's own token cannot ask for one."
    ),
    role=Role.READER, action="signing in to the studio",
    response=SignInCodeView, status_code=201,
)  # fmt: skip
