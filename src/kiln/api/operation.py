"""One REST operation, declared once: what the server binds a handler to and what the SDK calls.

An :class:`Operation` is plain data: method, path template, the role it needs, what it takes and
what it answers. The server registers each router handler from one (``kiln.server.routes.bind``),
the SDK sends requests through one (``RestClient.call`` / ``RestClient.stream``), and a test
checks that the app's routes and the declared operations are the same set. So a path is written
in one place, and the role an operation needs is data that anyone (the OpenAPI document, the
attack suite, a web UI) can read.

The operations are found where they are declared, as module attributes (:func:`declared_in`):
``kiln.api.operations()`` gathers the core ones from this package's modules, and a capability's
from the api module it brings. Nothing registers itself on import, so declaring one in a test
changes nothing elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from kiln.errors import Busy, Forbidden, InvalidSpec, KilnError, NotFound, Unauthorized
from kiln.specs.roles import Role

R = TypeVar("R")
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

JSON = "application/json"
TAR = "application/x-tar"
TEXT = "text/plain; charset=utf-8"
NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"  # server-sent events: each event's data is JSON (its schema: SSE_EVENT)


def sse_event(kind: str, data: str) -> str:
    """One server-sent event of an ``EVENT_STREAM`` answer: its kind and its data (JSON, on one line)."""
    return f"event: {kind}\ndata: {data}\n\n"


SSE_EVENT = {
    "type": "object",
    "description": "one server-sent event (its fields as the SSE format names them; 'data' holds JSON)",
    "properties": {
        "event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}, "retry": {"type": "integer"},
    },
}  # fmt: skip
BYTES = "application/octet-stream"
NO_CONTENT: type[None] = type(None)
"""``response=NO_CONTENT`` (with ``status_code=204``): the answer has no body."""

_NAME = re.compile(r"^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_]*$")
_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ErrorDetail(BaseModel):
    """One error: the class (``kiln.errors``) and the message."""

    model_config = ConfigDict(defer_build=True)  # built for the API's documents, not by every client at import

    type: str = Field(description="The error's class in kiln.errors: NotFound, Conflict, Forbidden, ...")
    message: str = Field(description="For people: what went wrong, naming the field or the name at fault.")


class ErrorBody(BaseModel):
    """What every error answer holds (``KilnError.to_json``); the SDK raises the class ``type`` names."""

    model_config = ConfigDict(defer_build=True)

    error: ErrorDetail


@dataclass(frozen=True)
class Operation(Generic[R]):
    """One method on one path. ``R`` is what a JSON answer parses into (``bytes``/``str`` for streams)."""

    name: str  # stable id, "<tag>.<verb>" (e.g. "jobs.create"): the OpenAPI operationId; the tag groups them
    method: Method
    path: str  # template with {parameters}, e.g. "/api/v1/jobs/{name}"
    summary: str
    role: Role  # the least role that may call it; a refusal reads "...; <action> needs contributor or owner"
    action: str  # e.g. "creating jobs"
    response: type[R]
    status_code: int = 200
    media_type: str = JSON  # of the answer; anything but JSON is streamed (RestClient.stream)
    body: Any = None  # the JSON body's type (a pydantic model), if the operation takes one
    raw_body: str | None = None  # the media type of a body sent as bytes (an upload), if it takes one
    query: tuple[str, ...] = ()  # the query parameters' names
    errors: tuple[type[KilnError], ...] = ()  # beyond those every operation may answer (see error_statuses)
    also_answers: tuple[int, ...] = ()  # other success statuses, with the same body
    response_headers: tuple[tuple[str, str], ...] = ()  # (name, what it says)
    description: str = ""
    limit: str | None = None  # the group of expensive requests it counts against, per user (kiln.server.limits)
    audited: bool = True  # a method but GET: each success is appended to the audit log (kiln.server.audit);
    # False only for a call that changes nothing kept (say why beside it)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"operation name {self.name!r} is not '<tag>.<verb>'")
        if self.body is not None and self.raw_body is not None:
            raise ValueError(f"{self.name}: an operation takes a JSON body or a raw one, not both")

    @property
    def tag(self) -> str:
        return self.name.partition(".")[0]

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(_PARAMETER.findall(self.path))

    @property
    def is_json(self) -> bool:
        return self.media_type == JSON

    @property
    def error_statuses(self) -> dict[int, tuple[type[KilnError], ...]]:
        """Every error status it may answer, with the error classes behind each: ``errors`` and what
        follows from the declaration (no token, a role below ``role``, a name that is not there, bad input,
        too many of the caller's requests of its ``limit`` group in flight)."""
        errors: list[type[KilnError]] = [Unauthorized]
        if self.role is not Role.READER:
            errors.append(Forbidden)
        if self.path_parameters:
            errors.append(NotFound)
        if self.path_parameters or self.body is not None or self.raw_body is not None or self.query:
            errors.append(InvalidSpec)
        if self.limit is not None:
            errors.append(Busy)
        statuses: dict[int, tuple[type[KilnError], ...]] = {}
        for error in (*errors, *self.errors):
            known = statuses.get(error.http_status, ())
            if error not in known:
                statuses[error.http_status] = (*known, error)
        return dict(sorted(statuses.items()))

    def url(self, **path: str | int) -> str:
        """The path with each parameter filled in as one segment: '/', '?', '#' and dot segments are
        escaped, so no value can address another route."""
        if set(path) != set(self.path_parameters):
            raise TypeError(f"{self.name} takes the path parameters {self.path_parameters}, not {tuple(path)}")
        return _PARAMETER.sub(lambda match: _segment(match.group(1), path[match.group(1)]), self.path)


def _segment(parameter: str, value: str | int) -> str:
    text = str(value)
    if not text:
        raise InvalidSpec(f"{parameter}: an empty value names nothing")
    if set(text) == {"."}:  # '.' and '..' would be read as "this folder" and "the folder above"
        return text.replace(".", "%2E")
    return quote(text, safe="")


def declared_in(module: ModuleType) -> list[Operation[Any]]:
    """The operations a module declares (as module attributes)."""
    return [value for value in vars(module).values() if isinstance(value, Operation)]
