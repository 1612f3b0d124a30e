"""Environments: the registered ones (``/ui/environments``), an environment's versions
(``/ui/environments/NAME``, its latest shown) and a version (``/ui/environments/NAME/VERSION``): the spec,
status, the packages uv locked and the build log's tail."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kiln import api
from kiln.errors import NotFound
from kiln.server.dependencies import Environments
from kiln.server.permissions import Caller
from kiln.studio.rendering import render

LOG_TAIL = 64 * 1024  # bytes of the build log shown


def routes(router: APIRouter) -> None:
    @router.get("/ui/environments")
    def environment_list(request: Request, environments: Environments, principal: Caller) -> HTMLResponse:
        principal.ensure(api.environments.LIST.role, api.environments.LIST.action)
        latest: dict[str, object] = {}
        counts: dict[str, int] = {}
        for view in environments.list():  # each name once, its newest version
            latest.setdefault(view.name, view)
            counts[view.name] = counts.get(view.name, 0) + 1
        return render(request, "environments/list.html", environments=list(latest.values()), counts=counts)

    @router.get("/ui/environments/{name}")
    def environment_latest(request: Request, name: str, environments: Environments, principal: Caller) -> HTMLResponse:
        return _page(request, name, "latest", environments, principal)

    @router.get("/ui/environments/{name}/{version}")
    def environment_version(
        request: Request, name: str, version: str, environments: Environments, principal: Caller
    ) -> HTMLResponse:
        return _page(request, name, version, environments, principal)


def _page(request: Request, name: str, version: str, environments: Environments, principal: Caller) -> HTMLResponse:
    principal.ensure(api.environments.SHOW.role, api.environments.SHOW.action)
    versions = environments.list(name)
    if not versions:
        raise NotFound(f"there is no environment named '{name}' (kiln environment list shows those there are)")
    chosen = environments.get(name, version)
    principal.ensure(api.environments.LOG.role, api.environments.LOG.action)
    log = b"".join(environments.follow_log(name, chosen.version, follow=False))
    cut = len(log) > LOG_TAIL
    text = log[-LOG_TAIL:].decode("utf-8", "replace")
    return render(request, "environments/environment.html", env=chosen, versions=versions, log=text, log_cut=cut)
