"""The errors a scoring request can meet, as members of kiln's one error tree.

Each protocol renders them in its own error shape (kiln's ``{"error": {type, message}}`` on
``/score``, MLflow's ``{"error_code", "message"}`` on ``/invocations``, the V2 protocol's
``{"error": message}``), with the status that each class carries.
"""

from __future__ import annotations

from kiln.errors import InvalidSpec, KilnError


class InvalidInput(InvalidSpec):
    """The request body is malformed or does not match the model's signature; the message
    names the column (or field) and what was expected."""

    http_status = 400


class UnsupportedMediaType(InvalidInput):
    http_status = 415


class TooManyRequests(KilnError):
    """More requests are in flight than ``max_concurrent_requests`` allows."""

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
