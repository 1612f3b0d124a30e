"""One APIRouter per resource."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from kiln.services.workspace import Workspace


def workspace_of(request: Request) -> Workspace:
    """The workspace the app opened at start (typed, for the routers)."""
    workspace: Workspace = request.app.state.workspace
    return workspace
