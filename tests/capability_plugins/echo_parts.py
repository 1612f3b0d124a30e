"""What the echo-test plug-in names: a command, a router, a service, and a job kind's spec and handler."""

from __future__ import annotations

import shlex
from typing import Annotated, Literal

import typer
from fastapi import APIRouter, Depends

from kiln.capabilities.services import CapabilityContext
from kiln.jobs.handler import ReferenceValues
from kiln.server.capabilities import capability_service
from kiln.server.routes import bind
from kiln.specs.job import ProcessJobSpec
from tests.capability_plugins import echo_api


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


Service = Annotated[EchoService, Depends(capability_service("echo-test"))]


def echo_router() -> APIRouter:
    router = APIRouter()

    @bind(router, echo_api.PING)
    def ping() -> echo_api.EchoAnswer:
        return echo_api.EchoAnswer(echo="pong")

    @bind(router, echo_api.SAY)
    def say(text: str, service: Service) -> echo_api.EchoAnswer:
        return echo_api.EchoAnswer(echo=service.say(text))

    @bind(router, echo_api.CONTEXT)
    def context(service: Service) -> echo_api.EchoContext:
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
        return echo_api.EchoContext(
            url=given.url, folder=str(given.folder), services=",".join(type(s).__name__ for s in core)
        )

    return router


class EchoJobSpec(ProcessJobSpec):
    """``type: echo-test``: says ``message`` in its log, and into the output ``said`` when the job declares one."""

    type: Literal["echo-test"] = "echo-test"
    message: str


class EchoHandler:
    def command_line(self, spec: EchoJobSpec, values: ReferenceValues) -> str:
        said = values["outputs"].get("said")
        echo = f"echo {shlex.quote(spec.message)}"
        return f"{echo} | tee {shlex.quote(said)}/said.txt" if said else echo

    def summary(self, spec: EchoJobSpec) -> str:
        return f"echo-test: {spec.message}"
