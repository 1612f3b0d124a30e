"""How many expensive requests one user may have in flight at once.

A download builds a tar, a log follow holds a thread while the job runs, a registration copies
files and talks to MLflow: each holds one of the server's worker threads (a bounded pool) for its
whole length. Without a bound, one user's burst of them takes every thread, and everyone else's
requests wait behind it. An :class:`Operation` names the group it counts against
(``Operation.limit``: ``"downloads"``, ``"logs"``…); ``kiln.server.routes.bind`` adds
:func:`limit_per_user` for it, so the route holds a slot from before its handler runs until its
answer (a stream too) has been sent. Past the group's size the request is answered 429 ``Busy`` at
once, with ``Retry-After``; other users keep their own slots.

Every other operation takes a turn (:func:`take_turn`): at most :data:`USER_TURNS` requests of one
user run at once, and the rest wait for theirs on the event loop, where waiting costs no thread. So a
burst of cheap requests from one user is served a few at a time (the user's answers come later), while
other users' requests, and the event loop itself, keep their share of the threads and of the GIL.

The counts are per server process, on the event loop (the dependencies are ``async``, so taking and
giving back a slot or a turn never waits for a thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from kiln.errors import Busy
from kiln.server.permissions import principal_of

# requests of each group one user may have in flight; a group not named here has DEFAULT_SLOTS
USER_SLOTS: dict[str, int] = {
    "downloads": 2,  # tar streams: model files, job outputs, data content, workspace export
    "logs": 4,  # log reads, and follows that last as long as the job
    "live": 6,  # server-sent event streams of the studio's live parts (no thread held: they wait on the loop)
    "registrations": 2,  # model registration: copies the files, logs them to MLflow
    "scans": 2,  # answers built from many MLflow or database reads: lineage, model lists, metric histories
    "uploads": 2,
}
DEFAULT_SLOTS = 2
USER_TURNS = 4  # requests of one user (of operations without a group) that run at once; the rest wait
RETRY_AFTER_SECONDS = 2
# threads for blocking work: ``def`` handlers, their dependencies, run_in_threadpool (anyio's default, set
# here so that it is a decision); each expensive request holds one, each user a few of those at most
SERVER_THREADS = 40
_STATE = "kiln_user_slots"
_TURNS = "kiln_user_turns"


def size_thread_pool(threads: int = SERVER_THREADS) -> None:
    """Bound the pool that runs blocking work (call on the server's event loop, before serving)."""
    from anyio import to_thread

    to_thread.current_default_thread_limiter().total_tokens = threads


class UserSlots:
    """At most ``size`` slots held at once by each user (by principal name), for one group."""

    def __init__(self, group: str, size: int) -> None:
        if size < 1:
            raise ValueError(f"the group {group!r} needs at least one slot per user, not {size}")
        self.group = group
        self.size = size
        self._held: dict[str, int] = {}

    def held(self, user: str) -> int:
        return self._held.get(user, 0)

    def take(self, user: str) -> None:
        """Take one of ``user``'s slots; Busy when all of them are held."""
        held = self.held(user)
        if held >= self.size:
            raise Busy(
                f"user '{user}' already has {held} {self.group} request(s) in flight, as many as the server allows "
                f"one user; try again when one has ended (in about {RETRY_AFTER_SECONDS} s)",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self._held[user] = held + 1

    def give_back(self, user: str) -> None:
        held = self.held(user) - 1
        if held > 0:
            self._held[user] = held
        else:
            self._held.pop(user, None)


def limit_per_user(group: str, size: int | None = None) -> Any:
    """A route dependency: the request holds one of its caller's slots of ``group`` (shared by every route
    of the app that names the group; ``size`` or ``USER_SLOTS[group]`` each) until its answer is sent."""

    async def hold_slot(request: Request) -> AsyncIterator[None]:
        slots = slots_of(request.app, group, size)
        user = principal_of(request).name
        slots.take(user)
        try:
            yield
        finally:
            slots.give_back(user)

    hold_slot.__name__ = f"limit_{group}_per_user"
    return Depends(hold_slot)


def slots_of(app: Any, group: str, size: int | None = None) -> UserSlots:
    """The app's slots of ``group``, made on first use."""
    groups: dict[str, UserSlots] | None = getattr(app.state, _STATE, None)
    if groups is None:
        groups = {}
        setattr(app.state, _STATE, groups)
    if group not in groups:
        groups[group] = UserSlots(group, size if size is not None else USER_SLOTS.get(group, DEFAULT_SLOTS))
    return groups[group]


class UserTurns:
    """At most ``size`` requests of each user run at once; the others wait, in order, on the event loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._users: dict[str, _Turns] = {}

    def running(self, user: str) -> int:
        turns = self._users.get(user)
        return turns.running if turns else 0

    @asynccontextmanager
    async def turn(self, user: str) -> AsyncIterator[None]:
        turns = self._users.setdefault(user, _Turns(asyncio.Semaphore(self.size)))
        turns.in_flight += 1
        try:
            async with turns.semaphore:
                turns.running += 1
                try:
                    yield
                finally:
                    turns.running -= 1
        finally:
            turns.in_flight -= 1
            if not turns.in_flight:
                del self._users[user]  # nothing kept for a user with nothing in flight


@dataclass
class _Turns:
    semaphore: asyncio.Semaphore
    in_flight: int = 0  # running or waiting
    running: int = 0


def take_turn(size: int | None = None) -> Any:
    """A route dependency: the request runs when it is one of its caller's USER_TURNS (or ``size``) running."""

    async def wait_for_turn(request: Request) -> AsyncIterator[None]:
        turns: UserTurns | None = getattr(request.app.state, _TURNS, None)
        if turns is None:
            turns = UserTurns(size or USER_TURNS)
            setattr(request.app.state, _TURNS, turns)
        async with turns.turn(principal_of(request).name):
            yield

    return Depends(wait_for_turn)
