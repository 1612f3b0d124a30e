"""The echo-test plug-in's REST operations, declared as kiln.api's are (no server imports here)."""

from __future__ import annotations

from pydantic import BaseModel

from kiln.api.operation import Operation
from kiln.specs.users import Role


class EchoAnswer(BaseModel):
    echo: str


class EchoContext(BaseModel):
    url: str
    folder: str
    services: str


PING = Operation(
    "echo-test.ping", "GET", "/api/v1/echo-test/ping", summary="Answer without the service",
    role=Role.READER, action="pinging", response=EchoAnswer,
)  # fmt: skip
SAY = Operation(
    "echo-test.say", "GET", "/api/v1/echo-test/say", summary="Say it back",
    role=Role.READER, action="hearing echoes", response=EchoAnswer, query=("text",),
)  # fmt: skip
CONTEXT = Operation(
    "echo-test.context", "GET", "/api/v1/echo-test/context", summary="What the plug-in's service was given",
    role=Role.CONTRIBUTOR, action="reading the echo context", response=EchoContext,
)  # fmt: skip
