"""REST for users and their API tokens (``kiln.api.users``)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter

from kiln import api
from kiln.server.dependencies import SignIns, Users
from kiln.server.permissions import Caller
from kiln.server.routes import bind
from kiln.services.browser_sessions import CODE_SECONDS
from kiln.services.users import UserService
from kiln.specs.users import (
    NewTokenView,
    SignInCodeView,
    TokenRequest,
    TokenView,
    UserSpec,
    UserUpdate,
    UserView,
    WhoAmIView,
)  # fmt: skip


def users_router() -> APIRouter:
    router = APIRouter()

    @bind(router, api.users.WHOAMI)
    def whoami(principal: Caller) -> WhoAmIView:
        return UserService.whoami(principal)

    @bind(router, api.users.SIGN_IN_CODE)
    def sign_in_code(sign_ins: SignIns, principal: Caller) -> SignInCodeView:
        code = sign_ins.new_code(principal)
        return SignInCodeView(url_path=f"/login?{urlencode({'code': code})}", expires_in_seconds=CODE_SECONDS)

    @bind(router, api.users.CREATE)
    def create_user(users: Users, spec: UserSpec, principal: Caller) -> UserView:
        return users.create_user(spec, created_by=principal.name)

    @bind(router, api.users.LIST)
    def list_users(users: Users) -> list[UserView]:
        return users.list_users()

    @bind(router, api.users.SHOW)
    def show_user(users: Users, name: str) -> UserView:
        return users.get_user(name)

    @bind(router, api.users.UPDATE)
    def update_user(users: Users, name: str, body: UserUpdate) -> UserView:
        return users.update_user(name, body)

    @bind(router, api.users.DELETE)
    def delete_user(users: Users, name: str) -> None:
        users.delete_user(name)

    # a reader may see and revoke their own tokens; who may do more is decided by UserService
    @bind(router, api.users.CREATE_TOKEN)
    def create_token(users: Users, name: str, body: TokenRequest, principal: Caller) -> NewTokenView:
        return users.create_token(principal, name, body)

    @bind(router, api.users.LIST_TOKENS)
    def list_tokens(users: Users, name: str, principal: Caller) -> list[TokenView]:
        return users.list_tokens(principal, name)

    @bind(router, api.users.REVOKE_TOKEN)
    def revoke_token(users: Users, token_id: str, principal: Caller) -> TokenView:
        return users.revoke_token(principal, token_id)

    return router
