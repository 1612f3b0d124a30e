"""The studio's routes on the workspace server: sign-in, assets and every registered page."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter

from kiln.server.permissions import requires
from kiln.specs.job_kinds import load_attribute
from kiln.specs.users import Role
from kiln.studio.assets import assets_router
from kiln.studio.pages import StudioPage
from kiln.studio.signin import signin_router


def studio_router(pages: Iterable[StudioPage]) -> APIRouter:
    """Sign-in and assets (public), then each page's routes: any signed-in user may open a page, and each
    page checks what it reads against the REST operation it mirrors (a reader sees no writer's control)."""
    router = APIRouter(include_in_schema=False)
    router.include_router(signin_router())
    router.include_router(assets_router())
    page_routes = APIRouter(include_in_schema=False, dependencies=[requires(Role.READER, "opening kiln studio")])
    for page in sorted(pages, key=lambda page: page.order):
        load_attribute(page.routes)(page_routes)
    router.include_router(page_routes)
    return router
