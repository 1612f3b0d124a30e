"""Reads and writes of users and their API tokens (kept as SHA-256 hashes, never as text)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from kiln.store.database import insert_unique
from kiln.store.tables import ApiTokenRow, BrowserSessionRow, UserRow


class UserRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # Users ------------------------------------------------------------------------------------
    def add_user(self, row: UserRow) -> bool:
        """False if a user of that name exists already."""
        return insert_unique(self._sessions, row)

    def find_user(self, name: str) -> UserRow | None:
        with self._sessions() as session:
            return session.get(UserRow, name)

    def users(self) -> list[UserRow]:
        with self._sessions() as session:
            return list(session.scalars(select(UserRow).order_by(UserRow.name)))

    def set_user_fields(self, name: str, **fields: Any) -> bool:
        with self._sessions.begin() as session:
            result = session.execute(update(UserRow).where(UserRow.name == name).values(**fields))
            return bool(getattr(result, "rowcount", 0))

    def delete_user(self, name: str) -> bool:
        """The user and every token of theirs, in one transaction."""
        with self._sessions.begin() as session:
            session.execute(delete(ApiTokenRow).where(ApiTokenRow.user_name == name))
            result = session.execute(delete(UserRow).where(UserRow.name == name))
            return bool(getattr(result, "rowcount", 0))

    # Tokens -----------------------------------------------------------------------------------
    def add_token(self, row: ApiTokenRow) -> bool:
        """False if the id (or, astronomically unlikely, the hash) is taken."""
        return insert_unique(self._sessions, row)

    def token_by_hash(self, token_hash: str) -> tuple[ApiTokenRow, UserRow | None] | None:
        query = (
            select(ApiTokenRow, UserRow)
            .join(UserRow, UserRow.name == ApiTokenRow.user_name, isouter=True)
            .where(ApiTokenRow.token_hash == token_hash)
        )
        with self._sessions() as session:
            found = session.execute(query).first()
            return (found[0], found[1]) if found else None

    def token_by_id(self, token_id: str) -> tuple[ApiTokenRow, UserRow | None] | None:
        query = (
            select(ApiTokenRow, UserRow)
            .join(UserRow, UserRow.name == ApiTokenRow.user_name, isouter=True)
            .where(ApiTokenRow.id == token_id)
        )
        with self._sessions() as session:
            found = session.execute(query).first()
            return (found[0], found[1]) if found else None

    def tokens_of(self, user: str) -> list[ApiTokenRow]:
        """The user's tokens, newest first; a job's token only while it is not revoked."""
        query = (
            select(ApiTokenRow)
            .where(
                ApiTokenRow.user_name == user,
                or_(ApiTokenRow.job_id.is_(None), ApiTokenRow.revoked_at.is_(None)),
            )
            .order_by(ApiTokenRow.created_at.desc())
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def active_token_counts(self, now: datetime) -> dict[str, int]:
        """Per user: tokens neither revoked nor expired."""
        query = (
            select(ApiTokenRow.user_name, func.count())
            .where(
                ApiTokenRow.revoked_at.is_(None),
                or_(ApiTokenRow.expires_at.is_(None), ApiTokenRow.expires_at > now),
            )
            .group_by(ApiTokenRow.user_name)
        )
        with self._sessions() as session:
            return {str(name): int(count) for name, count in session.execute(query)}

    def revoke(self, token_id: str, at: datetime) -> bool:
        """True if the token was active and is now revoked."""
        statement = (
            update(ApiTokenRow)
            .where(ApiTokenRow.id == token_id, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        with self._sessions.begin() as session:
            return bool(getattr(session.execute(statement), "rowcount", 0))

    def revoke_job_tokens(self, job_id: str, at: datetime) -> int:
        statement = (
            update(ApiTokenRow)
            .where(and_(ApiTokenRow.job_id == job_id, ApiTokenRow.revoked_at.is_(None)))
            .values(revoked_at=at)
        )
        with self._sessions.begin() as session:
            return int(getattr(session.execute(statement), "rowcount", 0))

    # Browser sessions and sign-in codes ------------------------------------------------------
    def add_browser_session(self, row: BrowserSessionRow) -> bool:
        return insert_unique(self._sessions, row)

    def browser_session(self, session_id: str) -> BrowserSessionRow | None:
        with self._sessions() as session:
            row = session.get(BrowserSessionRow, session_id)
            return row if row is not None and row.kind == "session" else None

    def take_code(self, code_id: str, secret_hash: str, now: datetime) -> BrowserSessionRow | None:
        """A sign-in code, deleted as it is read (one use, even with two servers racing); None when
        unknown, used, expired or the secret does not match."""
        statement = (
            delete(BrowserSessionRow)
            .where(
                BrowserSessionRow.id == code_id,
                BrowserSessionRow.kind == "code",
                BrowserSessionRow.secret_hash == secret_hash,
                BrowserSessionRow.expires_at > now,
            )
            .returning(BrowserSessionRow.token_id)
        )
        with self._sessions.begin() as session:
            found = session.execute(statement).first()
        if found is None:
            return None
        return BrowserSessionRow(id=code_id, kind="code", secret_hash=secret_hash, token_id=found[0])

    def end_browser_session(self, session_id: str) -> bool:
        with self._sessions.begin() as session:
            result = session.execute(delete(BrowserSessionRow).where(BrowserSessionRow.id == session_id))
            return bool(getattr(result, "rowcount", 0))

    def end_expired_browser_sessions(self, now: datetime) -> int:
        with self._sessions.begin() as session:
            result = session.execute(delete(BrowserSessionRow).where(BrowserSessionRow.expires_at <= now))
            return int(getattr(result, "rowcount", 0))
