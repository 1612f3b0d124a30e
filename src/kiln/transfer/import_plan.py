"""Before an import writes anything: for each item of the archive, whether the target lacks
it (new), holds the same thing (there: skipped), holds a half-imported copy from an import
that stopped (partial: written again), or holds something different under the same id or
name (conflict: refused, or skipped with ``--on-conflict skip``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from kiln.errors import InvalidSpec, NotFound
from kiln.specs.environment import EnvironmentSpec
from kiln.specs.references import is_asset_reference, parse_asset_reference
from kiln.store.privacy import PrivacyLedger
from kiln.transfer.mlflow_ids import INCOMPLETE_TAG
from kiln.transfer.rows import row_record
from kiln.transfer.unpacked import ArchivedModel, UnpackedArchive

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel, Run
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

    from kiln.transfer.sources import TransferSources

T = TypeVar("T")
LEDGER = "privacy ledger"
State = Literal["new", "there", "partial", "conflict"]
WRITES: frozenset[State] = frozenset({"new", "partial"})


@dataclass
class RunUnit:
    """A run and the logged models it produced: imported (and redone) together."""

    run: Run
    models: list[LoggedModel] = field(default_factory=list)


@dataclass
class PlannedItem:
    kind: str
    label: str
    state: State
    payload: Any
    reason: str = ""  # what differs, for a conflict


def mlflow_missing(exc: Exception) -> bool:
    return getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def unless_missing(get: Callable[[str], T], key: str) -> T | None:
    """``get(key)``, or None where MLflow says there is no such thing (to find, or to remove if there)."""
    from mlflow.exceptions import MlflowException

    try:
        return get(key)
    except MlflowException as exc:
        if mlflow_missing(exc):
            return None
        raise


class ImportPlanner:
    def __init__(self, sources: TransferSources, client: MlflowClient) -> None:
        self._sources = sources
        self._client = client

    def plan(self, archive: UnpackedArchive) -> list[PlannedItem]:
        """Every item, in the order an import writes them (what an item needs comes before it)."""
        data_assets = [self._data_asset(record) for record in archive.kiln("data-assets")]
        refused_data = {item.label for item in data_assets if item.state == "conflict"}
        ledgers = [self._privacy_ledger(r, refused_data) for r in archive.kiln("privacy-ledgers", since_added=True)]
        environments = [self._environment(record) for record in archive.kiln("environments")]
        runs, lone_models = self._runs(archive)
        jobs = [self._job(record, _conflicting(runs)) for record in archive.kiln("jobs")]
        _keep_runs_with_their_jobs(runs, jobs)
        run_ids = {item.payload.run.info.run_id for item in runs}
        models = [self._registered_model(m, _conflicting(runs), run_ids) for m in archive.registered_models()]
        refused_models = {item.label for item in models if item.state == "conflict"}
        endpoints = [self._endpoint(record, refused_models) for record in archive.kiln("endpoints")]
        items = data_assets + ledgers + environments + runs + lone_models + jobs + models + endpoints
        return items + self._capability_items(archive, items)

    def _capability_items(self, archive: UnpackedArchive, planned: list[PlannedItem]) -> list[PlannedItem]:
        """The capabilities' items (parts.py), part by part, each told what was refused before it."""
        refused: dict[str, set[str]] = defaultdict(set)
        for item in planned:
            if item.state == "conflict":
                refused[item.kind].add(item.label)
        items = []
        for part in self._sources.parts:
            for record in archive.capability(part.member):
                state, reason = part.plan(record, refused)
                item = PlannedItem(part.kind, part.label(record), state, record, reason)
                if state == "conflict":
                    refused[part.kind].add(item.label)
                items.append(item)
        return items

    def _runs(self, archive: UnpackedArchive) -> tuple[list[PlannedItem], list[PlannedItem]]:
        """Each run with the logged models it produced; and the logged models whose run is not in the archive."""
        experiments = {experiment.experiment_id: experiment.name for experiment in archive.experiments()}
        models_by_run: dict[str | None, list[LoggedModel]] = defaultdict(list)
        for model in archive.logged_models():
            models_by_run[model.source_run_id].append(model)
        runs = [
            self._run_unit(
                RunUnit(run, models_by_run.pop(run.info.run_id, [])), experiments.get(run.info.experiment_id)
            )
            for run in archive.runs()
        ]
        return runs, [self._lone_model(model) for models in models_by_run.values() for model in models]

    # kiln's records -------------------------------------------------------------------------------
    def _data_asset(self, record: dict[str, Any]) -> PlannedItem:
        label = f"{record['name']}:{record['version']}"
        existing = self._sources.data_assets.find(record["name"], record["version"])
        if existing is None:
            return PlannedItem("data asset version", label, "new", record)
        if (existing.content_hash, existing.type) == (record["content_hash"], record["type"]):
            return PlannedItem("data asset version", label, "there", record)
        return PlannedItem(
            "data asset version", label, "conflict", record,
            f"the target's {label} holds other content (sha256 {existing.content_hash[:12]}…, "
            f"the archive's {record['content_hash'][:12]}…)",
        )  # fmt: skip

    def _privacy_ledger(self, record: dict[str, Any], refused_data: set[str]) -> PlannedItem:
        """A private version's ledger: new where the target has not opened its budget, there where the target's
        ledger holds the archive's charges (and perhaps later ones), else a conflict: ledgers are never merged."""
        budget, charges = record["budget"], record["charges"]
        label = f"{budget['data_name']}:{budget['data_version']}"
        if label in refused_data:
            return PlannedItem(LEDGER, label, "conflict", record, "its data version differs on the target")
        ledger = PrivacyLedger(self._sources.data_assets.sessions)
        existing = ledger.budget(budget["data_name"], budget["data_version"])
        if existing is None:
            return PlannedItem(LEDGER, label, "new", record)
        theirs = [_charge_key(row_record(c)) for c in ledger.charges(existing.data_name, existing.data_version)]
        ours = [_charge_key(c) for c in charges]
        if (existing.epsilon, existing.delta) == (budget["epsilon"], budget["delta"]) and theirs[: len(ours)] == ours:
            return PlannedItem(LEDGER, label, "there", record)
        return PlannedItem(
            LEDGER, label, "conflict", record,
            f"the target's privacy budget of {label} has other charges (it spent epsilon {existing.spent_epsilon:g} "
            f"in {len(theirs)} charges, the archive's {budget['spent_epsilon']:g} in {len(ours)}); ledgers are not "
            "merged: with --on-conflict skip the target keeps its own ledger and the archive's charges are not added",
        )  # fmt: skip

    def _environment(self, record: dict[str, Any]) -> PlannedItem:
        label = f"{record['name']}:{record['version']}"
        existing = self._sources.environment_rows.find(record["name"], record["version"])
        if existing is None:
            return PlannedItem("environment", label, "new", record)
        try:
            build, _ = self._sources.environments.build_spec(EnvironmentSpec.model_validate(record["spec"]))
        except (InvalidSpec, ValueError) as exc:
            return PlannedItem("environment", label, "conflict", record, f"its spec cannot be built here: {exc}")
        if build.hash == existing.hash:
            return PlannedItem("environment", label, "there", record)
        return PlannedItem("environment", label, "conflict", record, f"the target's {label} has a different spec")

    def _job(self, record: dict[str, Any], conflicting_runs: set[str]) -> PlannedItem:
        label = str(record["name"])
        jobs = self._sources.jobs
        found = [row for row in (jobs.find(record["name"]), jobs.find(record["id"])) if row is not None]
        if not found:
            if record["id"] in conflicting_runs:
                return PlannedItem("job", label, "conflict", record, "its MLflow run differs on the target")
            return PlannedItem("job", label, "new", record)
        row = found[0]
        if row.id != record["id"] or row.name != record["name"]:
            return PlannedItem(
                "job", label, "conflict", record,
                f"the target has a different job named '{row.name}' (id {row.id}; the archive's is {record['id']})",
            )  # fmt: skip
        created_at = datetime.fromisoformat(record["created_at"])  # compared as instants: a database may shift zones
        same = (row.spec, row.status, row.created_at) == (record["spec"], record["status"], created_at)
        return PlannedItem("job", label, "there" if same else "conflict", record, "" if same else "it differs")

    def _endpoint(self, record: dict[str, Any], refused_models: set[str]) -> PlannedItem:
        endpoints = self._sources.endpoints
        name = str(record["endpoint"]["name"])
        for deployment in record["deployments"]:
            model = deployment.get("model")
            if isinstance(model, str) and is_asset_reference(model) and _model_name(model) in refused_models:
                return PlannedItem(
                    "endpoint", name, "conflict", record,
                    f"its deployment {deployment['name']} serves model {_model_name(model)}, which differs on the target",
                )  # fmt: skip
        try:
            view = endpoints.get_endpoint(name)
        except NotFound:
            return PlannedItem("endpoint", name, "new", record)
        existing = {d.name: d.spec for d in view.deployments}
        wanted = {d["name"]: d for d in record["deployments"]}
        endpoint = record["endpoint"]
        if (view.description, view.tags) != (endpoint["description"], endpoint["tags"]) or any(
            wanted.get(name) != spec for name, spec in existing.items()
        ):
            return PlannedItem("endpoint", name, "conflict", record, "the target's endpoint of that name differs")
        if set(existing) == set(wanted) and (view.traffic, view.mirror_traffic) == (
            endpoint["traffic"],
            endpoint["mirror_traffic"],
        ):
            return PlannedItem("endpoint", name, "there", record)
        return PlannedItem("endpoint", name, "partial", record)

    # MLflow --------------------------------------------------------------------------------------
    def _run_unit(self, unit: RunUnit, experiment_name: str | None) -> PlannedItem:
        run = unit.run
        label = f"{run.info.run_id} ({run.info.run_name})"
        if experiment_name is None:
            raise InvalidSpec(
                f"run {run.info.run_id} names experiment {run.info.experiment_id}, which the archive lacks"
            )
        target = unless_missing(self._client.get_run, run.info.run_id)
        if target is not None and INCOMPLETE_TAG not in target.data.tags:
            difference = self._run_difference(run, target, experiment_name)
            if difference:
                return PlannedItem("run", label, "conflict", unit, difference)
        clashing = [m.model_id for m in unit.models if self._model_state(m) == "complete"]
        if target is None and clashing:
            return PlannedItem(
                "run", label, "conflict", unit, f"its logged model {clashing[0]} exists on the target without the run"
            )
        if target is None:
            return PlannedItem("run", label, "new", unit)
        if INCOMPLETE_TAG in target.data.tags or len(clashing) < len(unit.models):
            return PlannedItem("run", label, "partial", unit)
        return PlannedItem("run", label, "there", unit)

    def _run_difference(self, run: Run, target: Run, experiment_name: str) -> str:
        target_experiment = self._client.get_experiment(target.info.experiment_id).name
        checks = {
            "experiment": (experiment_name, target_experiment),
            "name": (run.info.run_name, target.info.run_name),
            "status": (run.info.status, target.info.status),
            "start time": (run.info.start_time, target.info.start_time),
            "end time": (run.info.end_time, target.info.end_time),
            "params": (run.data.params, target.data.params),
            "tags": (run.data.tags, target.data.tags),
            "metrics": (run.data.metrics, target.data.metrics),
        }
        differing = [what for what, (ours, theirs) in checks.items() if ours != theirs]
        if target.info.lifecycle_stage != "active":
            differing.insert(0, "lifecycle (deleted on the target)")
        return f"the target's run with this id differs ({', '.join(differing)})" if differing else ""

    def _model_state(self, model: LoggedModel) -> Literal["missing", "incomplete", "complete"]:
        found = unless_missing(self._client.get_logged_model, model.model_id)
        if found is None:
            return "missing"
        return "incomplete" if INCOMPLETE_TAG in found.tags else "complete"

    def _lone_model(self, model: LoggedModel) -> PlannedItem:
        """A logged model whose run is not in the archive."""
        state = self._model_state(model)
        planned: State = {"missing": "new", "incomplete": "partial"}.get(state, "there")  # type: ignore[assignment]
        return PlannedItem("logged model", f"{model.model_id} ({model.name})", planned, model)

    def _registered_model(self, archived: ArchivedModel, conflicting_runs: set[str], run_ids: set[str]) -> PlannedItem:
        name = archived.model.name
        for version in archived.versions:
            if version.run_id and version.run_id in conflicting_runs:
                return PlannedItem(
                    "registered model", name, "conflict", archived,
                    f"its version {version.version} comes from run {version.run_id}, which differs on the target",
                )  # fmt: skip
            if version.run_id and version.run_id not in run_ids and not self._run_exists(version.run_id):
                return PlannedItem(
                    "registered model", name, "conflict", archived,
                    f"its version {version.version} comes from run {version.run_id}, which is neither in the "
                    "archive nor on the target",
                )  # fmt: skip
        target = unless_missing(self._client.get_registered_model, name)
        if target is None:
            return PlannedItem("registered model", name, "new", archived)
        quoted = name.replace("'", "\\'")
        existing = [
            v
            for v in self._client.search_model_versions(f"name = '{quoted}'", max_results=10_000)
            if INCOMPLETE_TAG not in v.tags
        ]
        ours = {v.version: v for v in archived.versions}
        for version in existing:
            if version.version not in ours or _version_key(version) != _version_key(ours[version.version]):
                return PlannedItem(
                    "registered model", name, "conflict", archived,
                    f"the target's model '{name}' has a different version {version.version}",
                )  # fmt: skip
        if len(existing) < len(ours):
            return PlannedItem("registered model", name, "partial", archived)
        if dict(target.aliases) != dict(archived.model.aliases) or target.tags != archived.model.tags:
            return PlannedItem(
                "registered model", name, "conflict", archived, f"the target's model '{name}' has other aliases or tags"
            )
        return PlannedItem("registered model", name, "there", archived)

    def _run_exists(self, run_id: str) -> bool:
        return unless_missing(self._client.get_run, run_id) is not None


def _charge_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """A charge as two workspaces can compare it (its number differs: charges are numbered by each workspace)."""
    when = record["charged_at"]
    instant = datetime.fromisoformat(when) if isinstance(when, str) else when
    return (record["charged_by"], instant, record["kind"], record["what"], record["epsilon"], record["delta"])


def _model_name(reference: str) -> str:
    """The model a ``kiln:NAME:VERSION`` / ``kiln:NAME@LABEL`` reference names."""
    return parse_asset_reference(reference, "model").name


def _conflicting(run_items: list[PlannedItem]) -> set[str]:
    return {item.payload.run.info.run_id for item in run_items if item.state == "conflict"}


def _keep_runs_with_their_jobs(run_items: list[PlannedItem], job_items: list[PlannedItem]) -> None:
    """A job that conflicts keeps its run out too: the target's job of that name is another one."""
    refused = {item.payload["id"]: item.label for item in job_items if item.state == "conflict"}
    for item in run_items:
        job = refused.get(item.payload.run.info.run_id)
        if job is not None and item.state != "conflict":
            item.state, item.reason = "conflict", f"it is the run of job '{job}', which differs on the target"


def _version_key(version: ModelVersion) -> tuple[Any, ...]:
    tags = {k: v for k, v in version.tags.items() if k != INCOMPLETE_TAG}
    return version.run_id or None, getattr(version, "model_id", None) or None, tags, version.description or None
