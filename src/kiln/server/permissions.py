"""Which role a route needs. The auth middleware says who is asking; these dependencies say
whether they may.

Every route of the REST API needs what its operation declares (``kiln.api``: ``role`` and
``action``); ``kiln.server.routes.bind`` adds ``requires(operation.role, operation.action)`` to it.
A handler that wants to know who asked takes ``principal: Caller``.

The message of a refusal reads "user 'ann' is a reader; creating jobs needs contributor or
owner". A route that declares nothing still gets the app-wide ``default_access``: reading
(GET, HEAD, OPTIONS) needs reader, anything else contributor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from kiln.errors import Forbidden, Unauthorized
from kiln.services.credentials import Principal
from kiln.specs.users import Role
from kiln.tracking.mlflow_access import TrackingForbidden, artifact_runs, is_read_only

PRINCIPAL_SCOPE_KEY = "kiln.principal"
_DECLARES_ACCESS = "kiln_declares_access"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # reading: what a reader may do, what needs no CSRF token


def principal_of(request: Request) -> Principal:
    """Who is asking (set by the auth middleware)."""
    principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise Unauthorized("this request carries no credentials: send 'Authorization: Bearer <token>'")
    return principal


async def _caller(request: Request) -> Principal:
    return principal_of(request)


# the dependencies here are ``async`` (they only read the request): FastAPI runs them on the event
# loop, so checking a role never waits for a thread of the pool that blocking handlers share
Caller = Annotated[Principal, Depends(_caller)]
"""A handler parameter: who is asking (the role was checked before the handler runs)."""


def _declaring(check: Any) -> Any:
    setattr(check, _DECLARES_ACCESS, True)
    return Depends(check)


def requires(role: Role, action: str) -> Any:
    """A dependency: Forbidden unless the caller's role is ``role`` or above; gives the Principal.
    ``action`` completes "…; <action> needs contributor or owner"."""

    async def check_role(request: Request) -> Principal:
        principal = principal_of(request)
        principal.ensure(role, action)
        return principal

    return _declaring(check_role)


async def _anyone() -> None:
    return None


def public() -> Any:
    """A dependency for a route anyone may call (the studio's sign-in page and its assets); the auth
    middleware must let the path through without credentials as well (``kiln.server.auth.PUBLIC_PATHS``)."""
    return _declaring(_anyone)


def tracking_caller(scope: dict[str, Any], method: str, api_path: str) -> str:
    """For /mlflow (``kiln.tracking.proxy``, an ASGI path, so it reads the scope): who is asking.
    Readers get MLflow's read-only calls (``kiln.tracking.mlflow_access``), the rest needs contributor."""
    principal = scope.get(PRINCIPAL_SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise Unauthorized("this request carries no credentials: send 'Authorization: Bearer <token>'")
    if not principal.role.allows(Role.CONTRIBUTOR) and not is_read_only(method, api_path):
        raise TrackingForbidden(
            f"user '{principal.name}' is a {principal.role.value}; writing to MLflow ({method} {api_path}) "
            f"needs {Role.CONTRIBUTOR.and_above()}"
        )
    return principal.name


def tracking_access(jobs: Callable[[], Any]) -> Callable[[dict[str, Any], str, str], str]:
    """``tracking_caller``, and the artifacts of a job's MLflow run that read private data for owners only
    (``jobs()``: the JobService; its ``ensure_outputs_readable`` decides; kiln privacy)."""

    def access(scope: dict[str, Any], method: str, api_path: str) -> str:
        caller = tracking_caller(scope, method, api_path)
        runs = artifact_runs(api_path, scope.get("query_string", b"").decode("latin-1"))
        if runs:
            principal = scope[PRINCIPAL_SCOPE_KEY]
            for run in runs:
                try:
                    jobs().ensure_outputs_readable(run, principal.role, "its MLflow artifacts")
                except Forbidden as refused:
                    raise TrackingForbidden(refused.message) from None
        return caller

    return access


async def default_access(request: Request) -> None:
    """App-wide: a route that declares no role needs reader to read and contributor to change anything."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and declares_access(route):
        return
    principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if not isinstance(principal, Principal):
        return  # a public path (/health): the middleware let it through without credentials
    needed = Role.READER if request.method in SAFE_METHODS else Role.CONTRIBUTOR
    principal.ensure(needed, f"{request.method} {request.url.path}")


def declares_access(route: APIRoute) -> bool:
    """Whether the route states the role it needs (through ``requires``)."""
    return any(getattr(dependency.call, _DECLARES_ACCESS, False) for dependency in route.dependant.dependencies)
