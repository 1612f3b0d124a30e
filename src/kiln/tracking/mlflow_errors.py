"""MLflow's refusals as kiln's errors, and how long the server's client to MLflow keeps trying.

MLflow's client retries what it takes for a passing failure (a 500, a 503, a refused connection)
with an exponential backoff: by default 7 times, for minutes. The server's MLflow is a supervised
child on loopback, so a failure there is either a restart (seconds) or a request MLflow cannot
answer at all, and waiting minutes for the second only holds a thread of the server. So the server
bounds the retries (:func:`bound_client_retries`: about 15 s in all), checks the arguments MLflow
would fail on before calling it (:func:`version_number`), and answers what MLflow refuses because of
the caller (a tag key it does not accept, a name it does not know) as kiln's 4xx
(:func:`caller_errors`), naming what was asked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from kiln.errors import Conflict, InvalidSpec, KilnError, NotFound, Unavailable

MAX_VERSION = 2**31 - 1  # MLflow keeps version numbers in a 32-bit integer column
CLIENT_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",  # then 0 + 2 + 4 + 8 s of backoff (MLflow's default: 7, minutes)
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
}
_NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "ENDPOINT_NOT_FOUND"})
_INVALID = frozenset(
    {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST", "INVALID_STATE", "RESOURCE_LIMIT_EXCEEDED"}
)
_EXISTS = frozenset({"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS", "RESOURCE_CONFLICT"})
_DIGITS = re.compile(r"[0-9]{1,10}")


def bound_client_retries() -> None:
    """Bound the retries of this process's MLflow client (a setting already in the environment wins)."""
    for name, value in CLIENT_RETRIES.items():
        os.environ.setdefault(name, value)


def version_number(text: str) -> int | None:
    """``text`` as a version number MLflow can hold (1 to 2**31-1, ASCII digits); None if it is not one."""
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_VERSION else None


@contextmanager
def caller_errors(what: str) -> Iterator[None]:
    """Run MLflow calls about ``what`` ("tag 'x' of model 'iris'"); what MLflow refuses becomes kiln's error."""
    try:
        yield
    except Exception as exc:
        # imported here, not on entry: an MLflow error means MLflow is imported (and a first request does not
        # import it beside the server's warm-up: kiln.tracking.mlflow_import)
        from mlflow.exceptions import MlflowException

        if isinstance(exc, MlflowException):
            raise as_kiln_error(exc, what) from exc
        raise


def as_kiln_error(exc: Exception, what: str) -> KilnError:
    """NotFound, InvalidSpec or Conflict for MLflow's refusals; Unavailable for its own failures."""
    code = str(getattr(exc, "error_code", "") or "")
    message = str(getattr(exc, "message", None) or exc).strip()
    if len(message) > 500:
        message = message[:500] + "…"
    if code in _NOT_FOUND:
        return NotFound(f"{what}: not found ({message})")
    if code in _INVALID:
        return InvalidSpec(f"{what}: MLflow refuses it: {message}")
    if code in _EXISTS:
        return Conflict(f"{what}: {message}")
    return Unavailable(f"{what}: MLflow could not answer ({code or 'no error code'}): {message}")
