"""REST for users and their API tokens: /api/v1/users, /api/v1/tokens, /api/v1/whoami."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request

from kiln.server.permissions import requires
from kiln.server.routers import workspace_of
from kiln.services.credentials import Principal
from kiln.services.users import UserService
from kiln.specs.users import NewTokenView, Role, TokenRequest, TokenView, UserSpec, UserUpdate, UserView, WhoAmIView


def _users(request: Request) -> UserService:
    return workspace_of(request).users


def users_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["users"])

    @router.get("/whoami", response_model=WhoAmIView)
    def whoami(principal: Annotated[Principal, requires(Role.READER, "asking who one is")]) -> WhoAmIView:
        """The user (and role) the token sent acts as; 'workspace' for the workspace token."""
        return UserService.whoami(principal)

    @router.post("/users", response_model=UserView, status_code=201)
    def create_user(
        spec: UserSpec, request: Request, principal: Annotated[Principal, requires(Role.OWNER, "creating users")]
    ) -> UserView:
        return _users(request).create_user(spec, created_by=principal.name)

    @router.get("/users", response_model=list[UserView], dependencies=[requires(Role.READER, "listing users")])
    def list_users(request: Request) -> list[UserView]:
        return _users(request).list_users()

    @router.get("/users/{name}", response_model=UserView, dependencies=[requires(Role.READER, "reading users")])
    def show_user(name: str, request: Request) -> UserView:
        return _users(request).get_user(name)

    @router.patch("/users/{name}", response_model=UserView, dependencies=[requires(Role.OWNER, "changing users")])
    def update_user(name: str, body: UserUpdate, request: Request) -> UserView:
        """A new role counts from the user's next request (within seconds on other servers)."""
        return _users(request).update_user(name, body)

    @router.delete("/users/{name}", status_code=204, dependencies=[requires(Role.OWNER, "deleting users")])
    def delete_user(name: str, request: Request) -> None:
        """The user and all their tokens; what they created keeps their name."""
        _users(request).delete_user(name)

    # a reader may see and revoke their own tokens; who may do more is decided by UserService
    @router.post("/users/{name}/tokens", response_model=NewTokenView, status_code=201)
    def create_token(
        name: str,
        body: TokenRequest,
        request: Request,
        principal: Annotated[Principal, requires(Role.READER, "creating tokens")],
    ) -> NewTokenView:
        """The token is in this answer only; the workspace keeps its SHA-256."""
        return _users(request).create_token(principal, name, body)

    @router.get("/users/{name}/tokens", response_model=list[TokenView])
    def list_tokens(
        name: str, request: Request, principal: Annotated[Principal, requires(Role.READER, "listing tokens")]
    ) -> list[TokenView]:
        return _users(request).list_tokens(principal, name)

    @router.post("/tokens/{token_id}/revoke", response_model=TokenView)
    def revoke_token(
        token_id: str, request: Request, principal: Annotated[Principal, requires(Role.READER, "revoking tokens")]
    ) -> TokenView:
        """It stops working at once on this server, within seconds on others sharing the database."""
        return _users(request).revoke_token(principal, token_id)

    return router
