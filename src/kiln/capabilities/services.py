"""Capabilities' services in a workspace server: what each may use (:class:`CapabilityContext`), and
the services built from it when the workspace opens (:class:`CapabilityServices`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.capabilities.descriptor import Capability
from kiln.errors import MissingExtra, NotFound, Unavailable
from kiln.specs.job_kinds import load_attribute

if TYPE_CHECKING:
    from kiln.artifacts.store import ArtifactStore
    from kiln.config import Settings
    from kiln.services.data import DataService
    from kiln.services.endpoints import EndpointService
    from kiln.services.environments import EnvironmentService
    from kiln.services.jobs import JobService
    from kiln.services.models import ModelService
    from kiln.tracking.runs import RunTracker
    from kiln.transfer.parts import TransferPart

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapabilityContext:
    """What a capability's service may use of its workspace: the core services, each by its own type,
    never the object that wires them. A service keeps what it needs and may define ``close()``,
    called when the workspace closes."""

    settings: Settings
    url: str  # how jobs and clients reach this workspace
    folder: Path  # the capability's own folder in the workspace's home (created before its factory runs)
    artifacts: ArtifactStore
    tracker: RunTracker
    jobs: JobService
    data: DataService
    models: ModelService
    environments: EnvironmentService
    endpoints: EndpointService


class CapabilityServices:
    """The services of one workspace's capabilities, by capability name."""

    def __init__(self) -> None:
        self._services: dict[str, Any] = {}
        self._transfers: dict[str, str] = {}  # capability name -> its transfer factory ("module:factory")
        self._missing: dict[str, Capability] = {}  # its extra was not installed when the workspace opened

    @classmethod
    def open(cls, capabilities: Iterable[Capability], context: CapabilityContext) -> CapabilityServices:
        """Build the service of each capability that has one and whose extra is installed; the others'
        routes answer MissingExtra. ``context.folder`` is the parent of each capability's folder."""
        opened = cls()
        for capability in capabilities:
            if capability.service is None:
                continue
            try:
                capability.check_installed()
            except MissingExtra as exc:
                opened._missing[capability.name] = capability
                log.info("%s", exc.message)
                continue
            folder = context.folder / capability.name
            folder.mkdir(parents=True, exist_ok=True)
            factory = load_attribute(capability.service)
            opened._services[capability.name] = factory(dataclasses.replace(context, folder=folder))
            if capability.transfer is not None:
                opened._transfers[capability.name] = capability.transfer
        return opened

    def transfer_parts(self) -> tuple[TransferPart, ...]:
        """What the opened capabilities carry through a workspace's export and import, each part built from its
        capability's service (``Capability.transfer``)."""
        return tuple(
            part for name, factory in self._transfers.items() for part in load_attribute(factory)(self._services[name])
        )

    def get(self, name: str) -> Any:
        """The service of capability ``name``: MissingExtra when its extra was not installed at start."""
        if name in self._services:
            return self._services[name]
        if name in self._missing:
            self._missing[name].check_installed()
            raise Unavailable(
                f"the extra of the capability '{name}' was installed after the workspace server started; restart it"
            )
        raise NotFound(f"this workspace has no service of the capability '{name}'")

    def close(self) -> None:
        """Close each service that can be closed, the last opened first; one failing does not stop the others."""
        for name, service in reversed(list(self._services.items())):
            close = getattr(service, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # the others must still close
                    log.exception("closing the %s capability's service failed", name)
        self._services.clear()
