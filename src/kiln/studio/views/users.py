"""Users and tokens: ``/ui/users`` (everyone listed, as ``kiln user list``; owners create users, change
roles and delete them) and ``/ui/users/{name}`` (a user's API tokens: one's own, or anyone's for an owner,
as the REST allows; create one, shown once, and revoke). Every change is the REST user route itself."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.server.dependencies import Users
from kiln.server.permissions import Caller
from kiln.specs.users import Role
from kiln.studio.rendering import render


def routes(router: APIRouter) -> None:
    @router.get("/ui/users")
    def user_list(request: Request, users: Users, principal: Caller) -> HTMLResponse:
        principal.ensure(api.users.LIST.role, api.users.LIST.action)
        rows = users.list_users()
        return render(
            request, "users/list.html", users=rows, roles=list(Role), me=principal.name,
            has_tokens=any(user.name == principal.name for user in rows), create_url=api.users.CREATE.url(),
            user_url=lambda name: api.users.UPDATE.url(name=name),
        )  # fmt: skip

    @router.get("/ui/users/{name}")
    def user_tokens(request: Request, users: Users, principal: Caller, name: str) -> HTMLResponse:
        principal.ensure(api.users.LIST_TOKENS.role, api.users.LIST_TOKENS.action)
        user = users.get_user(name)
        tokens = users.list_tokens(principal, name)  # Forbidden for another user's, unless an owner
        may_create = principal.role.allows(Role.OWNER) or (
            principal.name == name and principal.role.allows(api.users.CREATE_TOKEN.role)
        )
        return render(
            request, "users/tokens.html", user=user, tokens=tokens, may_create=may_create,
            create_url=api.users.CREATE_TOKEN.url(name=name),
            revoke_urls={token.id: api.users.REVOKE_TOKEN.url(token_id=token.id) for token in tokens},
        )  # fmt: skip
