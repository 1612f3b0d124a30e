"""Users, roles and API tokens: who may do what, and the token each job's process acts with.

Roles are ordered (reader < contributor < owner). Routes say which role they need
(``kiln.server.permissions.requires``); the rules that depend on *whose* token it is live
here: anyone may list and revoke their own tokens, contributors and owners may create their
own, only owners may manage other users and their tokens, and a job's token creates none.

A job acts as its creator: when it starts it gets a token of its own that resolves to the
user who submitted it (with that user's role at each request), revoked when the job ends.
Jobs submitted with the workspace token, or before users existed, get a job token of their own too, acting as
the workspace owner: the workspace token itself is never handed to a job.
"""

from __future__ import annotations

import builtins
from datetime import datetime

from kiln.clock import utcnow
from kiln.errors import AlreadyExists, Conflict, Forbidden, NotFound
from kiln.services.credentials import (
    CredentialVerifier,
    Principal,
    hash_token,
    new_token,
    new_token_id,
    token_prefix,
)
from kiln.specs.users import (
    WORKSPACE_PRINCIPAL,
    NewTokenView,
    Role,
    TokenRequest,
    TokenState,
    TokenView,
    UserSpec,
    UserUpdate,
    UserView,
    WhoAmIView,
)
from kiln.store.tables import ApiTokenRow, JobRow, UserRow
from kiln.store.users import UserRepository


class UserService:
    def __init__(self, repository: UserRepository, verifier: CredentialVerifier) -> None:
        self._repo = repository
        self.verifier = verifier

    # Users ------------------------------------------------------------------------------------
    def create_user(self, spec: UserSpec, created_by: str) -> UserView:
        now = utcnow()
        row = UserRow(
            name=spec.name, role=spec.role.value, description=spec.description,
            created_at=now, created_by=created_by, updated_at=now,
        )  # fmt: skip
        if not self._repo.add_user(row):
            raise AlreadyExists(f"user '{spec.name}' exists already (kiln user update changes their role)")
        return self._user_view(row, 0)

    def list_users(self) -> builtins.list[UserView]:
        counts = self._repo.active_token_counts(utcnow())
        return [self._user_view(row, counts.get(row.name, 0)) for row in self._repo.users()]

    def get_user(self, name: str) -> UserView:
        return self._user_view(self._user_row(name), self._repo.active_token_counts(utcnow()).get(name, 0))

    def update_user(self, name: str, update: UserUpdate) -> UserView:
        self._user_row(name)
        fields: dict[str, object] = {"updated_at": utcnow()}
        if update.role is not None:
            fields["role"] = update.role.value
        if update.description is not None:
            fields["description"] = update.description
        self._repo.set_user_fields(name, **fields)
        self.verifier.forget()  # a new role counts from the next request
        return self.get_user(name)

    def delete_user(self, name: str) -> None:
        """The user and all their tokens; what they created keeps their name as its creator."""
        if not self._repo.delete_user(name):
            raise NotFound(self._missing(name))
        self.verifier.forget()

    def _user_row(self, name: str) -> UserRow:
        row = self._repo.find_user(name)
        if row is None:
            raise NotFound(self._missing(name))
        return row

    def _missing(self, name: str) -> str:
        if name == WORKSPACE_PRINCIPAL:
            return f"'{WORKSPACE_PRINCIPAL}' is whoever holds the workspace token, not a user: it has no record"
        return f"user '{name}' not found (kiln user list shows the users there are)"

    # Tokens -----------------------------------------------------------------------------------
    def create_token(self, actor: Principal, name: str, request: TokenRequest) -> NewTokenView:
        if actor.job_id is not None:
            raise Forbidden("a job's own token cannot create API tokens; ask an owner for one")
        self._user_row(name)
        if actor.name == name:
            actor.ensure(Role.CONTRIBUTOR, "creating API tokens")
        else:
            actor.ensure(Role.OWNER, "creating tokens for other users")
        now = utcnow()
        token, row = self._add_token(name, request.description, None, actor.name, request.expiry(now))
        self.verifier.forget()
        return NewTokenView(**self._token_view(row).model_dump(), token=token)

    def list_tokens(self, actor: Principal, name: str) -> builtins.list[TokenView]:
        if actor.name != name:
            actor.ensure(Role.OWNER, "listing other users' tokens")
        self._user_row(name)
        return [self._token_view(row) for row in self._repo.tokens_of(name)]

    def revoke_token(self, actor: Principal, token_id: str) -> TokenView:
        found = self._repo.token_by_id(token_id)
        if found is None:
            raise NotFound(f"token '{token_id}' not found (kiln user token list NAME shows a user's tokens)")
        row = found[0]
        if actor.name != row.user_name:
            actor.ensure(Role.OWNER, "revoking other users' tokens")
        self._repo.revoke(token_id, utcnow())  # revoking twice keeps the first moment
        self.verifier.forget()
        refreshed = self._repo.token_by_id(token_id)
        return self._token_view(refreshed[0] if refreshed else row)

    def _add_token(
        self, user: str, description: str | None, job_id: str | None, created_by: str, expires_at: datetime | None
    ) -> tuple[str, ApiTokenRow]:
        for _attempt in range(5):  # a public id taken already: draw another
            token = new_token()
            row = ApiTokenRow(
                id=new_token_id(), user_name=user, token_hash=hash_token(token), prefix=token_prefix(token),
                description=description, job_id=job_id, created_at=utcnow(), created_by=created_by,
                expires_at=expires_at, revoked_at=None,
            )  # fmt: skip
            if self._repo.add_token(row):
                return token, row
        raise Conflict("could not record the token (id clash); try again")

    # Jobs -------------------------------------------------------------------------------------
    def job_token(self, job: JobRow) -> str:
        """A fresh token acting as the job's creator, for its process (any earlier one of the job is revoked)."""
        creator = job.created_by or WORKSPACE_PRINCIPAL  # None: submitted before users existed
        if creator != WORKSPACE_PRINCIPAL and self._repo.find_user(creator) is None:
            raise Conflict(f"user '{creator}', who submitted the job, no longer exists")
        if self._repo.revoke_job_tokens(job.id, utcnow()):  # prepared again after a restart
            self.verifier.forget()
        token, _row = self._add_token(creator, f"job {job.name}", job.id, creator, None)
        return token

    def end_job_token(self, job: JobRow) -> None:
        """When the job ends: its token stops working (at once here, within seconds on other servers)."""
        if self._repo.revoke_job_tokens(job.id, utcnow()):
            self.verifier.forget()

    # Who am I ---------------------------------------------------------------------------------
    @staticmethod
    def whoami(actor: Principal) -> WhoAmIView:
        return WhoAmIView(name=actor.name, role=actor.role, token_id=actor.token_id, job=actor.job_id)

    # Views ------------------------------------------------------------------------------------
    @staticmethod
    def _user_view(row: UserRow, active_tokens: int) -> UserView:
        return UserView(
            name=row.name, role=Role(row.role), description=row.description, created_at=row.created_at,
            created_by=row.created_by, updated_at=row.updated_at, active_tokens=active_tokens,
        )  # fmt: skip

    @staticmethod
    def _token_view(row: ApiTokenRow) -> TokenView:
        state: TokenState = "active"
        if row.revoked_at is not None:
            state = "revoked"
        elif row.expires_at is not None and row.expires_at <= utcnow():
            state = "expired"
        return TokenView(
            id=row.id, user=row.user_name, prefix=row.prefix, description=row.description, job=row.job_id,
            state=state, created_at=row.created_at, created_by=row.created_by, expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )  # fmt: skip
