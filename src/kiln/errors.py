"""One error tree for every front door.

Each class knows the HTTP status the server answers with and the exit code the CLI
returns. The server serialises an error as ``{"error": {"type", "message"}}``; the REST
client rebuilds the same class from ``type`` so SDK users can catch what they would catch
in-process.
"""

from __future__ import annotations


class KilnError(Exception):
    """Base of every error kiln raises on purpose. The message is for the user."""

    http_status: int = 500
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"type": type(self).__name__, "message": self.message}}


class InvalidSpec(KilnError):
    """A spec, a flag or a request body is malformed; the message names the field."""

    http_status = 422
    exit_code = 2


class NotFound(KilnError):
    """What the request names is not there."""

    http_status = 404
    exit_code = 3


class AlreadyExists(KilnError):
    """Something of that name (and version) is there already."""

    http_status = 409
    exit_code = 4


class Conflict(KilnError):
    """The request is valid but the resource's current state forbids it."""

    http_status = 409
    exit_code = 4


class Unauthorized(KilnError):
    """No valid credentials: no token, or one that is unknown, expired or revoked."""

    http_status = 401
    exit_code = 5


class Forbidden(KilnError):
    """The caller's role (or a job's own token) does not allow it."""

    http_status = 403
    exit_code = 5


class Unavailable(KilnError):
    """The workspace (or a part of it, such as MLflow) cannot answer now."""

    http_status = 503
    exit_code = 6


ERROR_CLASSES: dict[str, type[KilnError]] = {
    cls.__name__: cls
    for cls in (KilnError, InvalidSpec, NotFound, AlreadyExists, Conflict, Unauthorized, Forbidden, Unavailable)
}


def error_from_json(payload: object, fallback_status: int) -> KilnError:
    """Rebuild the server's error as the same class; unknown shapes become a KilnError."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        body = payload["error"]
        cls = ERROR_CLASSES.get(str(body.get("type")), KilnError)
        return cls(str(body.get("message", "")))
    cls = next(
        (c for c in ERROR_CLASSES.values() if c.http_status == fallback_status and c is not KilnError), KilnError
    )
    return cls(f"the workspace answered HTTP {fallback_status}: {str(payload)[:300]}")
