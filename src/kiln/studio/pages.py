"""The studio's pages: one ``StudioPage`` each, in the navigation in ``order``.

Adding a page is a module with ``routes(router)`` (its handlers, under ``/ui/<name>``) and one line
here, or, for a capability, the same in its descriptor's ``studio_pages``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiln.specs.job_kinds import load_attribute
from kiln.specs.users import Role

if TYPE_CHECKING:
    from kiln.capabilities import Capability


@dataclass(frozen=True)
class StudioPage:
    name: str  # its path: /ui/<name>
    title: str  # in the navigation
    routes: str  # "module:function": function(router) adds the page's handlers
    order: int = 100
    role: Role = Role.READER  # who sees it in the navigation (the server checks each read anyway)

    @property
    def path(self) -> str:
        return f"/ui/{self.name}"


BUILT_IN_PAGES: tuple[StudioPage, ...] = (
    StudioPage("jobs", "Jobs", "kiln.studio.views.jobs:routes", order=10),
    StudioPage("compare", "Compare", "kiln.studio.views.compare:routes", order=15),
    StudioPage("models", "Models", "kiln.studio.views.models:routes", order=30),
    StudioPage("data", "Data", "kiln.studio.views.data:routes", order=40),
    StudioPage("environments", "Environments", "kiln.studio.views.environments:routes", order=50),
    StudioPage("endpoints", "Endpoints", "kiln.studio.views.endpoints:routes", order=60),
    StudioPage("compute", "Compute", "kiln.studio.views.compute:routes", order=70),
    StudioPage("users", "Users", "kiln.studio.views.users:routes", order=80),
    StudioPage("audit", "Audit", "kiln.studio.views.audit:routes", order=90, role=Role.OWNER),
)


def studio_pages(capabilities: Iterable[Capability] = ()) -> tuple[StudioPage, ...]:
    """The built-in pages and those the capabilities add, in navigation order."""
    pages = list(BUILT_IN_PAGES)
    for capability in capabilities:
        if capability.studio_pages is not None:
            pages.extend(load_attribute(capability.studio_pages))
    return tuple(sorted(pages, key=lambda page: page.order))
