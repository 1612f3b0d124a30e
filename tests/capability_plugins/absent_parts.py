"""The absent-test plug-in's parts: the router loads without the extra; the rest would need it."""

from __future__ import annotations

from fastapi import APIRouter

from kiln.server.routes import bind
from tests.capability_plugins import absent_api

app = None  # never loaded: the extra's check comes first


def absent_router() -> APIRouter:
    router = APIRouter()

    @bind(router, absent_api.PING)
    def ping() -> dict[str, str]:
        return {"never": "answered without the extra"}

    return router


class AbsentService:
    def __init__(self, *_args: object) -> None:
        raise AssertionError("the service of a capability whose extra is missing must not be built")
