"""What an export reads and an import writes: the workspace's stores and the services that register
what needs more than a row (environments are rebuilt, endpoints get new keys), and the capabilities' parts. The wiring hands the
transfer exactly these, not the whole workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiln.artifacts.store import ArtifactStore
from kiln.config import Settings
from kiln.services.endpoints import EndpointService
from kiln.services.environments import EnvironmentService
from kiln.store.data import DataAssetRepository
from kiln.store.environments import EnvironmentRepository
from kiln.store.jobs import JobRepository
from kiln.tracking.runs import RunTracker

if TYPE_CHECKING:
    from kiln.transfer.parts import TransferPart


@dataclass(frozen=True)
class TransferSources:
    settings: Settings
    store: ArtifactStore
    mlflow_url: str  # the loopback MLflow server itself: runs keep their ids, which its REST API cannot do
    tracker: RunTracker
    jobs: JobRepository
    data_assets: DataAssetRepository
    environment_rows: EnvironmentRepository
    environments: EnvironmentService
    endpoints: EndpointService
    parts: tuple[TransferPart, ...] = ()  # the capabilities' components, batch endpoints, schedules… (parts.py)
