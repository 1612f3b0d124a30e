"""The export: what the workspace holds, planned first (counts, sizes, what is left out),
then written as a tar stream member by member. It only reads, so the server keeps serving."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln import __version__
from kiln.artifacts.store import ArtifactStore
from kiln.specs.references import is_asset_reference
from kiln.specs.views import JobStatus
from kiln.store.privacy import PrivacyLedger
from kiln.store.tables import DataAssetRow, EnvironmentRow, JobRow
from kiln.tracking.mlflow_secret import send_with_mlflow_client
from kiln.transfer import references as names
from kiln.transfer.archive import MANIFEST, ArchiveWriter, Manifest
from kiln.transfer.mlflow_json import to_json
from kiln.transfer.mlflow_reader import MlflowReader, RegisteredModelRecord
from kiln.transfer.parts import capability_records
from kiln.transfer.rows import row_record

if TYPE_CHECKING:
    from mlflow.entities import Experiment, LoggedModel, Run

    from kiln.transfer.parts import TransferPart
    from kiln.transfer.sources import TransferSources

EVERY_JOB = 1_000_000


@dataclass
class ExportPlan:
    manifest: Manifest
    jobs: list[JobRow]
    data_assets: list[DataAssetRow]
    privacy_ledgers: list[dict[str, Any]]  # each private version's budget as spent, and its charges
    environments: list[EnvironmentRow]
    endpoints: list[dict[str, Any]]
    capability_records: dict[str, list[dict[str, Any]]]  # each capability part's records, by its archive member
    experiments: list[Experiment]
    runs: list[Run]
    logged_models: list[LoggedModel]
    registered_models: list[RegisteredModelRecord]
    store_keys: list[str]
    store_bytes: int
    artifacts: dict[str, dict[str, int]]  # artifact URI -> file -> size

    @property
    def total_bytes(self) -> int:
        """About what the stream will carry (file contents; records and tar headers are extra)."""
        return self.store_bytes + sum(sum(files.values()) for files in self.artifacts.values())


class WorkspaceExporter:
    def __init__(self, sources: TransferSources) -> None:
        self._sources = sources
        self._store: ArtifactStore = sources.store
        send_with_mlflow_client()  # to the workspace's own MLflow child (installed at first use, not at start)
        self._mlflow = MlflowReader(sources.mlflow_url)

    # Planning -----------------------------------------------------------------------------------
    def plan(self, include_endpoints: bool) -> ExportPlan:
        jobs, unfinished = self._jobs()
        sources = self._sources
        data_assets = sorted(
            (row for name in sources.data_assets.names() for row in sources.data_assets.versions(name)),
            key=lambda row: row.id,
        )
        environments = sorted(sources.environment_rows.all(limit=EVERY_JOB), key=lambda row: row.created_at)
        endpoints = self._endpoints() if include_endpoints else []
        privacy_ledgers = self._privacy_ledgers(data_assets)
        part_records = {part.member: part.export() for part in sources.parts}
        experiments = self._mlflow.experiments()
        experiment_ids = [experiment.experiment_id for experiment in experiments]
        left_out = {job.id for job in unfinished}  # a job that has not ended would have no process on the target
        runs = [run for run in self._mlflow.runs(experiment_ids) if run.info.run_id not in left_out]
        logged_models = [m for m in self._mlflow.logged_models(experiment_ids) if m.source_run_id not in left_out]
        store_keys = self._store_keys(jobs, data_assets, [*endpoints, part_records])
        plan = ExportPlan(
            manifest=Manifest(
                kiln_version=__version__, mlflow_version=metadata.version("mlflow"), created_at=datetime.now(UTC),
                include_endpoints=include_endpoints,
                left_out=[
                    f"job {job.name} ({job.status}): it has not ended; wait for it or cancel it, then export again"
                    for job in unfinished
                ],
            ),
            jobs=jobs, data_assets=data_assets, privacy_ledgers=privacy_ledgers, environments=environments,
            endpoints=endpoints, capability_records=part_records,
            experiments=experiments, runs=runs, logged_models=logged_models,
            registered_models=self._mlflow.registered_models(), store_keys=store_keys,
            store_bytes=sum(self._store.size(key) for key in store_keys),
            artifacts={
                uri: self._mlflow.artifact_sizes(uri)
                for uri in [run.info.artifact_uri for run in runs] + [m.artifact_location for m in logged_models]
            },
        )  # fmt: skip
        plan.manifest.counts = _counts(plan, sources.parts)
        return plan

    def _jobs(self) -> tuple[list[JobRow], list[JobRow]]:
        """The jobs that have ended and those that have not, oldest first."""
        rows = sorted(self._sources.jobs.recent(limit=EVERY_JOB), key=lambda row: row.created_at)
        ended = [row for row in rows if JobStatus(row.status).is_terminal]
        return ended, [row for row in rows if not JobStatus(row.status).is_terminal]

    def _privacy_ledgers(self, data: list[DataAssetRow]) -> list[dict[str, Any]]:
        """kiln privacy's ledger of each exported version whose budget was opened: the budget with what it has
        spent, and every charge (an imported workspace must not start a private version's budget unspent). The
        export runs beside queries: each version's charges are read before its budget, so a charge made meanwhile
        is in the spent total at least (a charge and its spend are one transaction): never less than the charges."""
        ledger = PrivacyLedger(self._sources.data_assets.sessions)
        exported = {(row.name, row.version) for row in data}
        ledgers = []
        for name, version in sorted((b.data_name, b.data_version) for b in ledger.budgets()):
            if (name, version) not in exported:
                continue
            charges = [row_record(charge) for charge in ledger.charges(name, version)]
            budget = ledger.budget(name, version)
            if budget is not None:
                ledgers.append({"budget": row_record(budget), "charges": charges})
        return ledgers

    def _store_keys(self, jobs: list[JobRow], data: list[DataAssetRow], records: list[Any]) -> list[str]:
        """The store folders the archive carries: jobs' folders and code, data, and the content ``records`` name."""
        keys: set[str] = set()
        for job in jobs:
            keys |= names.content_keys(row_record(job))
            if job.code_hash:
                keys.add(f"snapshots/{job.code_hash}")
            if self._store.exists(names.job_key(job.id)):
                keys.add(names.job_key(job.id))
        for row in data:
            if row.store_key:  # a reference to remote data (remote_path) has no stored content
                keys.add(row.store_key)
        keys |= names.content_keys(records)
        return sorted(key for key in keys if self._store.exists(key))

    def _endpoints(self) -> list[dict[str, Any]]:
        """Desired state only: the endpoint's spec and each deployment's, its model pinned to the
        version it serves. No keys (the target derives new ones) and no replicas."""
        records = []
        for view in self._sources.endpoints.list_endpoints():
            deployments = []
            for deployment in view.deployments:
                spec = dict(deployment.spec)
                if (
                    isinstance(spec.get("model"), str)
                    and is_asset_reference(spec["model"])
                    and deployment.model_version
                ):
                    spec["model"] = f"kiln:{deployment.model_name}:{deployment.model_version}"
                deployments.append(spec)
            endpoint = {
                "name": view.name, "description": view.description, "tags": view.tags, "auth_mode": view.auth_mode,
                "traffic": view.traffic, "mirror_traffic": view.mirror_traffic,
            }  # fmt: skip
            records.append({"endpoint": endpoint, "deployments": deployments})
        return records

    # Writing ------------------------------------------------------------------------------------
    def stream(self, plan: ExportPlan) -> Iterator[bytes]:
        writer = ArchiveWriter()
        yield from writer.add_json(MANIFEST, plan.manifest.model_dump(mode="json"))
        kiln_records: dict[str, list[Any]] = {
            "jobs": [row_record(row) for row in plan.jobs],
            "data-assets": [row_record(row) for row in plan.data_assets],
            "privacy-ledgers": plan.privacy_ledgers,
            "environments": [row_record(row) for row in plan.environments],
            "endpoints": plan.endpoints,
            "store-keys": list(plan.store_keys),
        }
        for kind, records in kiln_records.items():
            yield from writer.add_json(names.kiln_records(kind), records)
        for member, records in plan.capability_records.items():
            yield from writer.add_json(capability_records(member), records)
        yield from writer.add_json(names.EXPERIMENTS, [to_json(e) for e in plan.experiments])
        for run in plan.runs:
            yield from self._run(writer, run, plan)
        for model in plan.logged_models:
            yield from writer.add_json(names.logged_model_record(model.model_id), to_json(model))
            member = f"{names.MODEL_ARTIFACTS}/{model.model_id}"
            yield from self._artifacts(writer, model.artifact_location, member, plan)
        registered = [
            {"model": to_json(record.model), "versions": [to_json(version) for version in record.versions]}
            for record in plan.registered_models
        ]
        yield from writer.add_json(names.REGISTERED_MODELS, registered)
        for key in plan.store_keys:
            yield from self._store_folder(writer, key)
        yield from writer.finish()

    def _run(self, writer: ArchiveWriter, run: Run, plan: ExportPlan) -> Iterator[bytes]:
        """The run, every value of its metrics (apart: they can be long), its artifacts."""
        yield from writer.add_json(names.run_record(run.info.run_id), to_json(run))
        histories = self._mlflow.metric_histories(run)
        points = {key: [to_json(point) for point in history] for key, history in histories.items()}
        yield from writer.add_json(names.metric_record(run.info.run_id), points)
        yield from self._artifacts(writer, run.info.artifact_uri, f"{names.RUN_ARTIFACTS}/{run.info.run_id}", plan)

    def _artifacts(self, writer: ArchiveWriter, uri: str, member: str, plan: ExportPlan) -> Iterator[bytes]:
        if not plan.artifacts.get(uri):
            return
        scratch = Path(tempfile.mkdtemp(prefix="kiln-export-"))
        try:
            self._mlflow.download(uri, scratch)
            yield from writer.add_folder(member, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _store_folder(self, writer: ArchiveWriter, key: str) -> Iterator[bytes]:
        """A store folder: read in place from a local store, through a temporary copy from an object store."""
        with self._store.local_view(key) as local:
            yield from writer.add_folder(f"{names.STORE}/{key}", local)


def _counts(plan: ExportPlan, parts: tuple[TransferPart, ...]) -> dict[str, int]:
    carried = {f"{part.kind}s": len(plan.capability_records[part.member]) for part in parts}
    return {
        "jobs": len(plan.jobs),
        "data asset versions": len(plan.data_assets),
        "privacy ledgers": len(plan.privacy_ledgers),
        "environments": len(plan.environments),
        "endpoints": len(plan.endpoints),
        "experiments": len(plan.experiments),
        "runs": len(plan.runs),
        "logged models": len(plan.logged_models),
        "registered models": len(plan.registered_models),
        "model versions": sum(len(record.versions) for record in plan.registered_models),
        **carried,
        "store folders": len(plan.store_keys),
    }
