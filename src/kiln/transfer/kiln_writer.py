"""Writes kiln's records into the target through its own services and repositories, each
item's store content first and its row last, so a row never points at missing content."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from kiln.artifacts.store import tree_hash
from kiln.errors import Conflict, InvalidSpec
from kiln.specs.endpoint import EndpointUpdate, OnlineDeploymentSpec, OnlineEndpointSpec
from kiln.specs.environment import EnvironmentSpec
from kiln.store.privacy import PrivacyLedger
from kiln.store.tables import DataAssetRow, JobRow, PrivacyBudgetRow, PrivacyChargeRow
from kiln.transfer import references as names
from kiln.transfer.rows import record_row
from kiln.transfer.unpacked import UnpackedArchive

if TYPE_CHECKING:
    from kiln.transfer.sources import TransferSources

# what describes the machine a job ran on, not the job: not carried over
MACHINE_FIELDS: dict[str, Any] = {
    "pid": None,
    "pid_started": None,
    "gpu_ids": [],
    "cancel_requested": False,
    "server_id": None,
}


class KilnWriter:
    def __init__(self, sources: TransferSources, archive: UnpackedArchive) -> None:
        self._sources = sources
        self._archive = archive
        self._stored: set[str] = set()
        self._archived = set(archive.kiln("store-keys"))  # what the source's store held of what its rows name

    def content(self, record: Any) -> None:
        """Every content-addressed folder (code snapshots, uploads, data) that ``record`` names and the archive holds."""
        for key in sorted((names.content_keys(record) & self._archived) - self._stored):
            prefix, digest = key.split("/", 1)
            local = self._archive.store_folder(key)
            if tree_hash(local) != digest:
                raise InvalidSpec(f"{self._archive.label}: the content of {key} does not match its hash; it is corrupt")
            self._sources.store.put_content_addressed(local, prefix)
            self._stored.add(key)

    def data_asset(self, record: dict[str, Any]) -> None:
        self.content(record["store_key"])
        row = record_row(DataAssetRow, record, id=None)  # numbered here, in the archive's order
        if not self._sources.data_assets.add(row):
            raise Conflict(f"data asset {record['name']}:{record['version']} was created on the target meanwhile")

    def privacy_ledger(self, record: dict[str, Any]) -> None:
        """A private version's budget as spent in the source and its charges, in one transaction."""
        budget = record_row(PrivacyBudgetRow, record["budget"])
        charges = [record_row(PrivacyChargeRow, charge, id=None) for charge in record["charges"]]
        if not PrivacyLedger(self._sources.data_assets.sessions).restore(budget, charges):
            raise Conflict(
                f"the privacy budget of {budget.data_name}:{budget.data_version} was opened on the target meanwhile "
                "(a query or job charged it): import again to compare the ledgers"
            )

    def environment(self, record: dict[str, Any]) -> None:
        """Registered again from its spec, so the target builds its own venv (in the background,
        as ``kiln environment create`` does); jobs keep the exact packages they ran with."""
        self._sources.environments.create(
            EnvironmentSpec.model_validate(record["spec"]), created_by=record.get("created_by")
        )
        rows = self._sources.environment_rows
        row = rows.get(record["name"], record["version"])
        rows.set_fields(row.id, created_at=datetime.fromisoformat(record["created_at"]))

    def job(self, record: dict[str, Any], experiment_id: str) -> None:
        self.content(record)
        if record.get("code_hash"):
            self.content(f"snapshots/{record['code_hash']}")
        folder = names.job_key(record["id"])
        local = self._archive.root / names.STORE / folder
        if local.is_dir():
            self._sources.store.put(local, folder)
        row = record_row(JobRow, record, experiment_id=experiment_id, **MACHINE_FIELDS)
        self._sources.jobs.add(row)

    def endpoint(self, record: dict[str, Any]) -> None:
        """The endpoint (new keys: the old ones derive from the source workspace's secret), its
        missing deployments (the target starts their replicas), then its traffic."""
        self.content(record)
        endpoints = self._sources.endpoints
        spec = dict(record["endpoint"])
        traffic, mirror = spec.pop("traffic"), spec.pop("mirror_traffic")
        existing = self._existing_deployments(spec["name"])
        if existing is None:
            endpoints.create_endpoint(OnlineEndpointSpec.model_validate(spec))
            existing = set()
        for deployment in record["deployments"]:
            if deployment["name"] not in existing:
                endpoints.create_deployment(OnlineDeploymentSpec.model_validate(deployment))
        if traffic or mirror:
            endpoints.update_endpoint(spec["name"], EndpointUpdate(traffic=traffic, mirror_traffic=mirror))

    def _existing_deployments(self, name: str) -> set[str] | None:
        from kiln.errors import NotFound

        try:
            return {d.name for d in self._sources.endpoints.get_endpoint(name).deployments}
        except NotFound:
            return None
