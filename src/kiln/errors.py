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

    def http_headers(self) -> dict[str, str]:
        """Headers the server sends with this error (``Retry-After`` for :class:`Busy`)."""
        return {}


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


class Busy(KilnError):
    """The caller already has as many requests of this kind in flight as the server allows one user;
    the others' requests are not affected. Try again when one has ended (the answer's ``Retry-After``)."""

    http_status = 429
    exit_code = 6

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class MissingExtra(KilnError):
    """An optional package is not installed where it is needed; the message names the extra that
    brings it (``pip install "kiln[onnx]"``), worded by :mod:`kiln.extras`.

    501, not 503: the server lacks the feature until someone installs the extra (and restarts it);
    asking again later does not help."""

    http_status = 501
    exit_code = 7


class UnsupportedModel(InvalidSpec):
    """A model (its flavor, estimator, operator or layer) that a conversion cannot translate; the message
    names what is unsupported and what is supported (``kiln.conversion``)."""


class ParityFailed(KilnError):
    """A converted model does not predict what its source did, within the tolerance asked for; the message
    is the parity report's summary, and ``report`` the report itself where it was raised (``kiln.conversion``).
    Nothing is registered."""

    http_status = 422
    exit_code = 8

    def __init__(self, report: object) -> None:
        summary = getattr(report, "summary", None)
        super().__init__(f"parity failed: {summary()}" if callable(summary) else str(report))
        self.report = report if callable(summary) else None


# Online scoring: what a replica answers (each protocol renders them in its own error shape, with
# the status the class carries), and what the endpoint's gateway answers in front of it.


class InvalidInput(InvalidSpec):
    """A scoring request's body is malformed or does not match the model's signature; the message
    names the column (or field) and what was expected."""

    http_status = 400


class PayloadTooLarge(InvalidInput):
    """A request body above the limit its route sets (encrypted scoring: ``encryption.max_request_mb``)."""

    http_status = 413


class UnsupportedMediaType(InvalidInput):
    http_status = 415


class TooManyRequests(KilnError):
    """More scoring requests are in flight than the replica's ``max_concurrent_requests`` allows."""

    http_status = 429
    exit_code = 6


class ScoringTimeout(KilnError):
    """The model did not answer within ``request_timeout_ms`` (Azure ML answers 408 too)."""

    http_status = 408
    exit_code = 6


class ScoringFailed(KilnError):
    """The model's predict or the scoring script's ``run()`` raised."""

    http_status = 500


class ModelLoadFailed(KilnError):
    """The model could not be loaded or the scoring script's ``init()`` failed: the replica
    logs this message and exits non-zero."""

    exit_code = 1


class BadGateway(Unavailable):
    """The deployment a request named (``azureml-model-deployment``) has ready replicas, but none of them
    could be reached."""

    http_status = 502


class GatewayTimeout(KilnError):
    """A deployment did not answer the gateway within its request timeout."""

    http_status = 504
    exit_code = 6


# What an answer without kiln's error body is rebuilt as, by its HTTP status: only the general
# classes, so that a bare 500 is not taken for a scoring failure.
_BY_STATUS: tuple[type[KilnError], ...] = (
    InvalidSpec, NotFound, AlreadyExists, Conflict, Unauthorized, Forbidden, Unavailable, Busy,
)  # fmt: skip
_SERVING: tuple[type[KilnError], ...] = (
    InvalidInput, UnsupportedMediaType, TooManyRequests, ScoringTimeout, ScoringFailed, ModelLoadFailed,
    BadGateway, GatewayTimeout, PayloadTooLarge,
)  # fmt: skip
_OPTIONAL: tuple[type[KilnError], ...] = (MissingExtra, UnsupportedModel, ParityFailed)

# Every class by name, so that the REST client rebuilds what the server raised.
ERROR_CLASSES: dict[str, type[KilnError]] = {
    KilnError.__name__: KilnError,
    **{cls.__name__: cls for cls in _BY_STATUS + _SERVING + _OPTIONAL},
}


def error_from_json(payload: object, fallback_status: int) -> KilnError:
    """Rebuild the server's error as the same class; unknown shapes become a KilnError."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        body = payload["error"]
        cls = ERROR_CLASSES.get(str(body.get("type")), KilnError)
        return cls(str(body.get("message", "")))
    cls = next((c for c in _BY_STATUS if c.http_status == fallback_status), KilnError)
    return cls(f"the workspace answered HTTP {fallback_status}: {str(payload)[:300]}")
