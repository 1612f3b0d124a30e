"""What a route may be handed: one typed dependency per service of the open workspace.

A handler names the services it uses as parameters (``jobs: Jobs``) and gets those, not the
workspace: the routers see only what they need, and nothing but :mod:`kiln.server.wiring` knows
how the workspace is put together. The providers are ``async`` so that FastAPI resolves them on
the event loop, without a trip through its thread pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from kiln.capabilities.services import CapabilityServices
from kiln.datastores.service import DatastoreService
from kiln.errors import Unavailable
from kiln.services.audit import AuditLog
from kiln.services.browser_sessions import BrowserSessions
from kiln.services.computes import ComputeService
from kiln.services.data import DataService
from kiln.services.endpoints import EndpointService
from kiln.services.environments import EnvironmentService
from kiln.services.jobs import JobService
from kiln.services.lineage import LineageService
from kiln.services.models import ModelService
from kiln.services.uploads import UploadService
from kiln.services.users import UserService
from kiln.serving.control.gateway import EndpointGateway
from kiln.serving.control.gateway_metrics import GatewayMetrics
from kiln.transfer.sources import TransferSources

if TYPE_CHECKING:
    from kiln.server.wiring import Workspace


def workspace_of(request: Request) -> Workspace:
    """The workspace the app opened at start (for the app's own wiring, not for routes); Unavailable
    while it is still opening."""
    workspace: Workspace | None = getattr(request.app.state, "workspace", None)
    if workspace is None:
        raise Unavailable("the workspace server is still starting; try again in a few seconds")
    return workspace


def _part(attribute: str) -> Any:
    async def provide(request: Request) -> Any:
        return getattr(workspace_of(request), attribute)

    provide.__name__ = f"provide_{attribute}"
    return Depends(provide)


Jobs = Annotated[JobService, _part("jobs")]
Uploads = Annotated[UploadService, _part("uploads")]
Data = Annotated[DataService, _part("data")]
Environments = Annotated[EnvironmentService, _part("environments")]
Models = Annotated[ModelService, _part("models")]
Lineage = Annotated[LineageService, _part("lineage")]
Endpoints = Annotated[EndpointService, _part("endpoints")]
GatewayCounters = Annotated[GatewayMetrics, _part("gateway_metrics")]
Users = Annotated[UserService, _part("users")]


async def _gateway(request: Request) -> EndpointGateway:
    gateway: EndpointGateway = request.app.state.endpoint_gateway
    return gateway


ScoringGateway = Annotated[EndpointGateway, Depends(_gateway)]  # the scoring URIs' gateway (endpoints.invoke)
SignIns = Annotated[BrowserSessions, _part("browser_sessions")]
Computes = Annotated[ComputeService, _part("computes")]
Datastores = Annotated[DatastoreService, _part("datastores")]
Capabilities = Annotated[CapabilityServices, _part("capabilities")]
Transfer = Annotated[TransferSources, _part("transfer")]
AuditEntries = Annotated[AuditLog, _part("audit")]
