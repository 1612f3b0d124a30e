"""What the echo-test plug-in names: a command, a router, a service and a job kind's spec and handler."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer
from fastapi import APIRouter, Depends
from pydantic import BaseModel

from kiln.capabilities.services import CapabilityContext
from kiln.server.capabilities import capability_service


def echo_command(words: Annotated[list[str], typer.Argument()]) -> None:
    """Say it back."""
    print("echo:", " ".join(words))


class EchoService:
    def __init__(self, context: CapabilityContext) -> None:
        self.context = context
        self.folder = context.folder
        self.closed = False

    def say(self, text: str) -> str:
        return f"echo: {text}"

    def close(self) -> None:
        self.closed = True


def echo_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/echo-test")

    @router.get("/ping")
    def ping() -> dict[str, str]:
        return {"echo": "pong"}

    @router.get("/say")
    def say(text: str, service: Annotated[EchoService, Depends(capability_service("echo-test"))]) -> dict[str, str]:
        return {"echo": service.say(text)}

    @router.get("/context")
    def context(service: Annotated[EchoService, Depends(capability_service("echo-test"))]) -> dict[str, str]:
        """What the service was given: the workspace's URL, its own folder and the core services' types."""
        given = service.context
        core = (
            given.artifacts,
            given.tracker,
            given.jobs,
            given.data,
            given.models,
            given.environments,
            given.endpoints,
        )
        return {"url": given.url, "folder": str(given.folder), "services": ",".join(type(s).__name__ for s in core)}

    return router


class EchoJobSpec(BaseModel):
    type: Literal["echo-test"]
    message: str


class EchoHandler:
    def __init__(self, *args: Any) -> None:
        self.args = args
