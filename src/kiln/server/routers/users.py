"""REST for users and their API tokens (``kiln.api.users``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from kiln import api
from kiln.server.permissions import Caller
from kiln.server.routers import workspace_of
from kiln.server.routes import bind
from kiln.services.users import UserService
from kiln.specs.users import NewTokenView, TokenRequest, TokenView, UserSpec, UserUpdate, UserView, WhoAmIView


def _users(request: Request) -> UserService:
    return workspace_of(request).users


def users_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.users.WHOAMI)
    def whoami(principal: Caller) -> WhoAmIView:
        return UserService.whoami(principal)

    @bind(router, api.users.CREATE)
    def create_user(spec: UserSpec, request: Request, principal: Caller) -> UserView:
        return _users(request).create_user(spec, created_by=principal.name)

    @bind(router, api.users.LIST)
    def list_users(request: Request) -> list[UserView]:
        return _users(request).list_users()

    @bind(router, api.users.SHOW)
    def show_user(name: str, request: Request) -> UserView:
        return _users(request).get_user(name)

    @bind(router, api.users.UPDATE)
    def update_user(name: str, body: UserUpdate, request: Request) -> UserView:
        return _users(request).update_user(name, body)

    @bind(router, api.users.DELETE)
    def delete_user(name: str, request: Request) -> None:
        _users(request).delete_user(name)

    # a reader may see and revoke their own tokens; who may do more is decided by UserService
    @bind(router, api.users.CREATE_TOKEN)
    def create_token(name: str, body: TokenRequest, request: Request, principal: Caller) -> NewTokenView:
        return _users(request).create_token(principal, name, body)

    @bind(router, api.users.LIST_TOKENS)
    def list_tokens(name: str, request: Request, principal: Caller) -> list[TokenView]:
        return _users(request).list_tokens(principal, name)

    @bind(router, api.users.REVOKE_TOKEN)
    def revoke_token(token_id: str, request: Request, principal: Caller) -> TokenView:
        return _users(request).revoke_token(principal, token_id)

    return router
