"""What a capability is: a small descriptor naming what it adds to each front door, importing none of it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kiln.extras import check_extra

if TYPE_CHECKING:  # only named here: importing it (pydantic, the specs) would slow every `kiln` start
    from kiln.specs.job_kinds import JobKind


@dataclass(frozen=True)
class CliCommand:
    """``kiln NAME …``: a command a capability adds to the CLI."""

    name: str
    target: str  # "module:attribute": a typer.Typer (a group: kiln NAME SUB …) or a function (one command)
    help: str  # the line ``kiln --help`` shows, so that listing the command imports nothing
    # False: the command runs without the capability's extra for some of its options and checks the extra
    # itself where it needs it (``Capability.check_installed``); True: the CLI checks it before loading
    checks_extra_itself: bool = False

    def load_target(self) -> Any:
        """What ``target`` names, its module imported now (``kiln.specs.job_kinds.load_attribute`` would
        import pydantic first: this runs on the CLI's start-up path)."""
        module, _, attribute = self.target.partition(":")
        if not module or not attribute:
            raise ValueError(f"'{self.target}' is not a 'module:attribute' reference")
        return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Capability:
    """One optional capability (ONNX, responsible AI, sweeps, TensorBoard…) and what it adds to kiln.

    Every reference is a ``"module:attribute"`` string, loaded on first use, so that listing the
    capabilities (``kiln --help``, a server starting) imports only the module holding this descriptor.
    What may import the extra's packages at its top, and what may not:

    - ``commands`` targets and the ``service`` factory may: they are loaded only after
      :meth:`check_installed` passed (else the command or route answers MissingExtra);
    - the ``api`` module, the ``router`` factory's module and the job kinds' spec modules may not: they load whether or
      not the extra is installed (the REST contract and YAML validation do not depend on what is
      installed); a route reaches the extra through the capability's service;
    - job handlers import the extra through :func:`kiln.extras.require_extra`.
    """

    name: str
    summary: str
    extra: str | None = None  # the pip extra it needs: pip install "kiln[EXTRA]"; None: nothing beyond kiln
    modules: tuple[str, ...] = ()  # top-level modules whose presence means the extra is installed (default: EXTRA)
    commands: tuple[CliCommand, ...] = ()
    api: str | None = None  # "module": its REST operations, declared as kiln.api's are (its router binds them)
    router: str | None = None  # "module:factory": factory() -> fastapi.APIRouter, mounted on the workspace server
    service: str | None = None  # "module:factory": factory(CapabilityContext) -> the service its routes use
    job_kinds: tuple[JobKind, ...] = ()
    studio_pages: str | None = None  # "module:attribute": a tuple of kiln.studio.pages.StudioPage, in the studio's nav
    # "module:factory": factory(its service) -> the kiln.transfer.parts.TransferPart s that a workspace's export
    # carries and its import recreates (a capability without a service carries nothing of its own)
    transfer: str | None = None

    def api_module(self) -> ModuleType | None:
        """Its operations' module (``kiln.api.operations(module)`` adds them to the REST contract)."""
        return importlib.import_module(self.api) if self.api else None

    def check_installed(self, needed_by: str | None = None) -> None:
        """MissingExtra naming the extra when its packages are not installed in this Python."""
        if self.extra is not None:
            check_extra(self.extra, self.modules, needed_by=needed_by or f"kiln's {self.name} capability")
