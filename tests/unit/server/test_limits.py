"""Per-user limits on expensive routes (kiln.server.limits), /health on the event loop (kiln.server.health)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from kiln.api.operation import TAR, Operation
from kiln.errors import Busy, KilnError
from kiln.server.health import HealthCheck
from kiln.server.limits import UserSlots, UserTurns, limit_per_user, size_thread_pool, slots_of
from kiln.server.permissions import PRINCIPAL_SCOPE_KEY
from kiln.server.routes import bind
from kiln.services.credentials import Principal
from kiln.specs.users import Role


def test_each_user_has_their_own_slots_and_gets_them_back() -> None:
    slots = UserSlots("downloads", 2)
    slots.take("ann")
    slots.take("ann")
    with pytest.raises(Busy, match=r"user 'ann' already has 2 downloads request\(s\) in flight.*try again") as busy:
        slots.take("ann")
    assert busy.value.http_status == 429 and busy.value.http_headers() == {"Retry-After": "2"}
    slots.take("bob")  # another user is not affected
    slots.give_back("ann")
    slots.take("ann")
    assert slots.held("ann") == 2 and slots.held("bob") == 1
    for user in ("ann", "ann", "bob"):
        slots.give_back(user)
    assert slots.held("ann") == slots.held("bob") == 0


def test_a_group_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        UserSlots("logs", 0)


def _app(size: int, gate: asyncio.Event, streamed: bool) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(KilnError)
    async def kiln_error(_request: Request, exc: KilnError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.http_status, headers=exc.http_headers())

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first "
        await gate.wait()
        yield b"last"

    @app.get("/slow", dependencies=[limit_per_user("downloads", size)])
    async def slow() -> Any:
        if streamed:
            return StreamingResponse(chunks())
        await gate.wait()
        return {"ok": True}

    async def as_user(scope: Any, receive: Any, send: Any) -> None:
        user = dict(scope["headers"]).get(b"x-user", b"ann").decode()
        scope[PRINCIPAL_SCOPE_KEY] = Principal(user, Role.READER, "tk_1")
        await app(scope, receive, send)

    app.state.asgi = as_user
    return app


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_route_holds_its_slot_until_its_answer_is_sent(streamed: bool) -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        app = _app(2, gate, streamed)
        transport = httpx.ASGITransport(app=app.state.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://kiln") as http:
            held = [asyncio.create_task(http.get("/slow")) for _ in range(2)]
            await asyncio.sleep(0.05)
            refused = await http.get("/slow")
            other = asyncio.create_task(http.get("/slow", headers={"x-user": "bob"}))
            await asyncio.sleep(0.05)
            assert slots_of(app, "downloads").held("ann") == 2 and slots_of(app, "downloads").held("bob") == 1
            gate.set()
            answers = await asyncio.gather(*held, other)
            assert [answer.status_code for answer in answers] == [200, 200, 200]
            assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
            assert refused.json()["error"]["type"] == "Busy"
            assert slots_of(app, "downloads").held("ann") == 0  # given back
            assert (await http.get("/slow")).status_code == 200

    asyncio.run(scenario())


def test_bind_adds_the_operations_limit_after_its_role_check_and_documents_429() -> None:
    operation = Operation(
        "things.files", "GET", "/api/v1/things/{name}/files", summary="Download a thing", role=Role.READER,
        action="downloading things", response=bytes, media_type=TAR, limit="downloads",
    )  # fmt: skip
    router = APIRouter()

    @bind(router, operation)
    async def files(name: str) -> StreamingResponse:
        return StreamingResponse(iter([name.encode()]), media_type=TAR)

    app = FastAPI()
    app.include_router(router)
    responses = app.openapi()["paths"]["/api/v1/things/{name}/files"]["get"]["responses"]
    assert "Busy" in responses["429"]["description"]
    route = next(route for route in router.routes if getattr(route, "path", "") == operation.path)
    names = [getattr(d.call, "__name__", "") for d in route.dependant.dependencies]  # type: ignore[attr-defined]
    assert names.index("limit_downloads_per_user") > names.index("check_role")
    plain = Operation(
        "things.show", "GET", "/api/v1/things/{name}", summary="A thing", role=Role.READER,
        action="reading things", response=dict,
    )  # fmt: skip
    assert 429 not in plain.error_statuses and 429 in operation.error_statuses


def test_health_is_answered_without_a_thread_or_the_app() -> None:
    async def scenario() -> None:
        size_thread_pool(1)
        release = anyio.Event()

        async def never_called(scope: Any, receive: Any, send: Any) -> None:
            raise AssertionError("/health reached the app")

        ready = {"now": False}
        health = HealthCheck(never_called, ready=lambda: ready["now"])
        transport = httpx.ASGITransport(app=health)
        async with httpx.AsyncClient(transport=transport, base_url="http://kiln") as http:
            async with anyio.create_task_group() as group:  # the one pool thread is held meanwhile
                group.start_soon(anyio.to_thread.run_sync, lambda: anyio.from_thread.run(release.wait))
                await asyncio.sleep(0.05)
                with anyio.fail_after(1):
                    assert (await http.get("/health")).json()["status"] == "starting"
                    ready["now"] = True
                    answer = await http.get("/health")
                assert answer.status_code == 200 and answer.json()["status"] == "ok"
                assert (await http.post("/health")).status_code == 405
                release.set()

    asyncio.run(scenario())


def test_past_a_users_turns_a_request_waits_on_the_event_loop_and_another_user_runs_at_once() -> None:
    async def scenario() -> None:
        turns = UserTurns(2)
        order: list[str] = []
        gate = asyncio.Event()

        async def request(user: str, label: str) -> None:
            async with turns.turn(user):
                order.append(label)
                await gate.wait()

        tasks = [asyncio.create_task(request("ann", f"ann-{i}")) for i in range(3)]
        tasks.append(asyncio.create_task(request("bob", "bob-0")))
        await asyncio.sleep(0.05)
        assert order == ["ann-0", "ann-1", "bob-0"]  # ann's third waits; bob is not behind her
        assert turns.running("ann") == 2 and turns.running("bob") == 1
        gate.set()
        await asyncio.gather(*tasks)
        assert order[-1] == "ann-2" and turns.running("ann") == 0

    asyncio.run(scenario())


def test_a_request_that_fails_gives_its_turn_back() -> None:
    async def scenario() -> None:
        turns = UserTurns(1)
        with pytest.raises(RuntimeError):
            async with turns.turn("ann"):
                raise RuntimeError("the handler failed")
        with anyio.fail_after(1):
            async with turns.turn("ann"):
                assert turns.running("ann") == 1

    asyncio.run(scenario())
