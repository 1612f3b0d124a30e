"""Capabilities on the workspace server: their routers mounted behind a check of their extra, and the
dependency through which a route reaches its capability's service."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Depends, FastAPI, Request

from kiln.capabilities import Capability
from kiln.server.dependencies import Capabilities
from kiln.specs.job_kinds import load_attribute


def include_capability_routers(app: FastAPI, capabilities: Iterable[Capability]) -> None:
    """Mount each capability's router. Its routes are there whether or not its extra is installed (the
    REST contract does not depend on it); without the extra each answers 501 with the MissingExtra message."""
    for capability in capabilities:
        if capability.router is not None:
            router = load_attribute(capability.router)()
            app.include_router(router, dependencies=[Depends(_installed(capability))])


def capability_service(name: str) -> Callable[..., Any]:
    """A route dependency: this workspace's service of the capability ``name``, e.g.
    ``service: Annotated[OnnxService, Depends(capability_service("onnx"))]``."""

    async def service(capabilities: Capabilities) -> Any:
        return capabilities.get(name)

    return service


def _installed(capability: Capability) -> Callable[[Request], None]:
    def check(request: Request) -> None:
        capability.check_installed(needed_by=f"{request.method} {request.url.path} on the workspace server")

    return check
